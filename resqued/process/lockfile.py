"""resque-pool's ``--lock FILE``: a shared flock held while the pool runs.

The master takes it first; each listener takes it again when it boots, so its
workers (forked from it) hold it too, as resque-pool's workers do.  Several
pools share the lock; ``flock -x FILE`` (an init system's post-stop check)
waits until every master, listener and worker holding it has exited.
"""

from __future__ import annotations

import fcntl
import os

from resqued.errors import ResquedError

_held: list[int] = []  # descriptors kept open for the life of the process


def hold_shared(path: str) -> None:
    """Open ``path`` (created if missing) and take a shared lock on it, waiting if need be."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise ResquedError(f"cannot open lock file {path}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
    except OSError as exc:
        os.close(fd)
        raise ResquedError(f"cannot lock {path}: {exc.strerror}") from None
    _held.append(fd)
