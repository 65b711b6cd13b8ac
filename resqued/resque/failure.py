"""Failure records for the ``failed`` list, in Ruby Resque's field order."""

from __future__ import annotations

import traceback
from typing import Any

from resqued.resque import times
from resqued.resque.payload import dumps, malformed_stand_in

DIRTY_EXIT = "Resque::DirtyExit"
PRUNE_DIRTY_EXIT = "Resque::PruneDeadWorkerDirtyExit"
MAX_BACKTRACE_LINES = 200


def exception_name(exc: BaseException) -> str:
    """``Module.Class`` for our exceptions, bare names for builtins (like Ruby's ``exc.class``)."""
    cls = type(exc)
    if cls.__module__ in ("builtins", "__main__"):
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def backtrace_of(exc: BaseException) -> list[str]:
    """Innermost frame first, as Ruby prints backtraces: ``file:line:in `func'``."""
    frames = traceback.extract_tb(exc.__traceback__)
    lines = [f"{f.filename}:{f.lineno}:in `{f.name}'" for f in reversed(frames)]
    return lines[:MAX_BACKTRACE_LINES]


def record(
    payload: dict[str, Any],
    exception: str,
    error: str,
    backtrace: list[str],
    worker_id: str,
    queue: str,
    epoch: float | None = None,
    raw: bytes | None = None,
) -> bytes:
    """One JSON failure record, every field present, keys in Ruby's order.

    A payload that cannot be encoded again (nested too deeply) is shown as the
    MalformedPayload stand-in holding ``raw``, the entry as it was queued.
    """
    doc = {
        "failed_at": times.failed_at(epoch),
        "payload": payload,
        "exception": exception,
        "error": error,
        "backtrace": backtrace,
        "worker": worker_id,
        "queue": queue,
    }
    try:
        return dumps(doc)
    except (ValueError, RecursionError):
        doc["payload"] = malformed_stand_in(raw or b"")
        return dumps(doc)


def signal_exit_message(pid: int, status: int) -> str:
    """Ruby's DirtyExit text for a child that did not exit cleanly."""
    import os
    import signal

    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"SIG{sig}"
        return f"Child process received unhandled signal pid {pid} {name} (signal {sig})"
    return f"Child process exited with status {os.waitstatus_to_exitcode(status)} pid {pid}"
