"""Logging to stderr, and log files placed on fds 1 and 2 so every process shares them.

Each process reopens the files itself (master and listener on USR1, workers
on HUP, since USR1 is Resque's kill-the-job signal), which is what logrotate
needs: after a move, ``reopen()`` starts a new file at the old path.
"""

from __future__ import annotations

import logging
import os
import sys

FORMAT = "%(asctime)s %(name)s[%(process)d] %(levelname)s: %(message)s"

_paths: tuple[str | None, str | None] = (None, None)


def setup(level: int = logging.INFO) -> logging.Logger:
    """Send the ``resqued`` logger to stderr (fd 2) at ``level``."""
    log = logging.getLogger("resqued")
    log.handlers[:] = []
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    log.addHandler(handler)
    log.setLevel(level)
    log.propagate = False
    return log


def redirect(stdout_path: str | None, stderr_path: str | None) -> None:
    """Point fds 1 and 2 at the given files (opened for append), remembering the paths."""
    global _paths
    _paths = (stdout_path, stderr_path)
    reopen()


def paths() -> tuple[str | None, str | None]:
    return _paths


def reopen() -> None:
    """Open the remembered paths again and put them on fds 1 and 2."""
    for path, fd in zip(_paths, (1, 2), strict=True):
        if not path:
            continue
        new = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            sys.stdout.flush() if fd == 1 else sys.stderr.flush()
            os.dup2(new, fd)
        finally:
            os.close(new)


def check_writable(path: str) -> None:
    """Raise OSError now, rather than in a daemon later, when ``path`` cannot be appended to."""
    os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))
