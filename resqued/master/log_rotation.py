"""resque_starter's ``log_shift_age``/``log_shift_size``: the master rotates the stderr log.

The standard library's rotating handlers do the rollover (``file`` becomes
``file.1``, ``file.1`` becomes ``file.2``, ... keeping ``log_shift_age`` old
files; or a dated name for ``daily``/``weekly``); then every process reopens
the file as on USR1: the master itself, its listeners, their workers.  Only
the master rotates, so several processes writing one file never race to
rename it.
"""

from __future__ import annotations

import logging.handlers
import os
import time

from resqued.config.view import MasterView

PERIODS = {"daily": "midnight", "weekly": "W6"}  # Ruby's weekly turns over on Sunday


class Rotation:
    def __init__(self, path: str, age: int | str, size: int) -> None:
        self.path = path
        self.size = size
        self.handler: (
            logging.handlers.RotatingFileHandler | logging.handlers.TimedRotatingFileHandler
        )
        if isinstance(age, str):
            self.handler = logging.handlers.TimedRotatingFileHandler(
                path, when=PERIODS[age], backupCount=0, delay=True
            )
        else:
            self.handler = logging.handlers.RotatingFileHandler(
                path, maxBytes=size, backupCount=age, delay=True
            )

    def due(self) -> bool:
        if isinstance(self.handler, logging.handlers.TimedRotatingFileHandler):
            return time.time() >= self.handler.rolloverAt
        try:
            return os.stat(self.path).st_size >= self.size
        except OSError:
            return False

    def rotate(self) -> None:
        """Roll the file over; the caller reopens it everywhere."""
        self.handler.doRollover()
        self.handler.close()


def from_view(view: MasterView) -> Rotation | None:
    """The rotation the config asks for, or None (no stderr file, or log_shift_age 0)."""
    age = view.compat.log_shift_age or 0
    path = view.stderr_path
    if not path or age in (0, "0"):
        return None
    return Rotation(path, age, int(view.compat.log_shift_size or 1048576))
