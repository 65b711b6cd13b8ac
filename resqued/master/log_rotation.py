"""resque_starter's ``log_shift_age``/``log_shift_size``: the master rotates the stderr log.

The standard library's rotating handlers do the rollover (``file`` becomes
``file.1``, ``file.1`` becomes ``file.2``, ... keeping ``log_shift_age`` old
files; or a dated name for ``daily``/``weekly``/``monthly``, the last day of the
period, as Ruby's Logger names it); then every process reopens
the file as on USR1: the master itself, its listeners, their workers.  Only
the master rotates, so several processes writing one file never race to
rename it.
"""

from __future__ import annotations

import logging.handlers
import os
import time

from resqued.config.view import MasterView

PERIODS = {"daily": "midnight", "weekly": "W6", "monthly": "midnight"}  # Ruby's week: Sunday


class MonthlyHandler(logging.handlers.TimedRotatingFileHandler):
    """Rolls over at local midnight on the first of each month (the standard library has
    daily and weekly rollovers only); the old file is named by the month's last day."""

    def computeRollover(self, currentTime: int) -> int:  # noqa: N802 (the library's name)
        now = time.localtime(currentTime)
        year, month = (now.tm_year + 1, 1) if now.tm_mon == 12 else (now.tm_year, now.tm_mon + 1)
        return int(time.mktime((year, month, 1, 0, 0, 0, 0, 0, -1)))


class Rotation:
    def __init__(self, path: str, age: int | str, size: int) -> None:
        self.path = path
        self.size = size
        self.handler: (
            logging.handlers.RotatingFileHandler | logging.handlers.TimedRotatingFileHandler
        )
        if isinstance(age, str):
            handler = logging.handlers.TimedRotatingFileHandler
            timed = MonthlyHandler if age == "monthly" else handler
            self.handler = timed(path, when=PERIODS[age], backupCount=0, delay=True)
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
