"""The master's pidfile: atomic writes, one live master per file, removed only if ours."""

from __future__ import annotations

import contextlib
import os

from resqued.errors import ResquedError
from resqued.proc import alive


def read(path: str) -> int | None:
    try:
        with open(path) as f:
            text = f.read().strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


def write(path: str, pid: int | None = None, force: bool = False) -> None:
    """Claim ``path`` for ``pid``; ResquedError if another live process holds it (unless force)."""
    pid = pid or os.getpid()
    current = read(path)
    if not force and current and current != pid and alive(current):
        raise ResquedError(f"pidfile {path} names pid {current}, which is still running")
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{pid}.tmp")
    try:
        with open(tmp, "w") as f:
            f.write(f"{pid}\n")
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise ResquedError(f"cannot write pidfile {path}: {exc.strerror}") from None


def remove(path: str, pid: int | None = None) -> None:
    """Delete ``path`` only if it still names ``pid`` (a newer master may own it now)."""
    if read(path) == (pid or os.getpid()):
        with contextlib.suppress(OSError):
            os.unlink(path)
