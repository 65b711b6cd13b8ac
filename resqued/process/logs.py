"""Logging to stderr, as text or JSON lines, and log files placed on fds 1 and 2.

Each process reopens the files itself (master and listener on USR1, workers
on HUP, since USR1 is Resque's kill-the-job signal), which is what logrotate
needs: after a move, ``reopen()`` starts a new file at the old path.

Every line goes through ``redact``, so no Redis password reaches a log.  The
format chosen with ``--log-format`` travels to listeners (and from them to
workers) in ``$RESQUED_LOG_FORMAT``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any

import setproctitle

from resqued.process.redact import redact

FORMAT = "%(asctime)s %(name)s[%(process)d] %(levelname)s: %(message)s"
FORMATS = ("text", "json")
FORMAT_ENV = "RESQUED_LOG_FORMAT"
# LogRecord attributes that are not "extra" fields of a JSON line.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

_paths: tuple[str | None, str | None] = (None, None)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, process, pid, message, then any extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": _iso_time(record.created),
            "level": record.levelname,
            "process": process_kind(),
            "pid": record.process,
            "message": redact(record.getMessage()),
        }
        if record.name != "resqued":
            doc["logger"] = record.name
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                doc[key] = value
        if record.exc_info:
            doc["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            doc["exception"] = redact(record.exc_text)
        return json.dumps(doc, default=lambda v: redact(str(v)), ensure_ascii=False)


def _iso_time(created: float) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{stamp}.{int(created % 1 * 1000):03d}Z"


def process_kind() -> str:
    """master, listener, worker (Resque's titles), or the command, read from the title."""
    title = setproctitle.getproctitle()
    if title.startswith("resque-"):
        return "worker"
    if title.startswith("resqued-"):
        words = title.split()
        return words[1] if len(words) > 1 else "resqued"
    return "resqued"


def setup(level: int = logging.INFO, fmt: str | None = None) -> logging.Logger:
    """Send the ``resqued`` logger to stderr (fd 2) at ``level``, as ``fmt`` (text or json).

    ``fmt`` None: ``$RESQUED_LOG_FORMAT`` if it names a format, else text.
    """
    if fmt is None:
        fmt = os.environ.get(FORMAT_ENV, "text")
        fmt = fmt if fmt in FORMATS else "text"
    if fmt not in FORMATS:
        raise ValueError(f"log format must be text or json, not {fmt!r}")
    log = logging.getLogger("resqued")
    log.handlers[:] = []
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
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


def reopen_or_keep(who: str) -> bool:
    """``reopen()``, or one log line saying why not: the open files stay in use.

    Every process reopens through this (master and listeners on USR1, workers on
    HUP): a file a process may not open (``user()``, a directory it cannot enter,
    a disk that filled up) never stops it, nor fails a job.
    """
    try:
        reopen()
    except OSError as exc:
        logging.getLogger("resqued").warning(
            "%s: cannot reopen the log files (%s); still writing to the open ones", who, exc
        )
        return False
    return True


def check_writable(path: str) -> None:
    """Raise OSError now, rather than in a daemon later, when ``path`` cannot be appended to."""
    os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))
