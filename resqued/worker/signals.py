"""A worker process's signals: each handler forwards to the control surface, nothing more.

The whole signal table is ``HANDLERS``.  The control methods only set flags
and wake the loop; the single exception is an in-process job running in the
thread the handler runs in, which TERM/INT and USR1 interrupt by raising
``TermException``/``JobKilled`` inside it.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any, Protocol

try:
    from _signal import signal as _set_handler  # type: ignore[import-not-found]
except ImportError:  # not CPython
    _set_handler = signal.signal

from resqued.process.proc import set_parent_death_signal, signal_name
from resqued.process.wakeup import Wakeup

SIGNALS = ("TERM", "INT", "QUIT", "USR1", "USR2", "CONT", "HUP")
SIGNUMS = frozenset(signal.Signals["SIG" + name] for name in SIGNALS)


class TermException(Exception):
    """Raised inside a job that TERM (or INT) interrupted."""

    def __init__(self, message: str = "SIGTERM") -> None:
        super().__init__(message)


class JobKilled(Exception):
    """Raised inside an in-process job that USR1 killed."""

    def __init__(self, message: str = "job killed by USR1") -> None:
        super().__init__(message)


# Failure records name these ``resqued.worker.TermException`` and ``resqued.worker.JobKilled``.
TermException.__module__ = JobKilled.__module__ = "resqued.worker"


class Controllable(Protocol):
    """The control surface signal handlers, threads and time limits use."""

    def stop(self, graceful: bool, reason: str = "SIGTERM") -> None: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def kill_current_job(self) -> None: ...
    def reopen_logs(self) -> None: ...


HANDLERS: dict[str, Callable[[Controllable], None]] = {
    "TERM": lambda w: w.stop(graceful=False, reason="SIGTERM"),  # stop now
    "INT": lambda w: w.stop(graceful=False, reason="SIGINT"),
    "QUIT": lambda w: w.stop(graceful=True),  # finish the current job, then exit
    "USR1": lambda w: w.kill_current_job(),
    "USR2": lambda w: w.pause(),
    "CONT": lambda w: w.resume(),
    "HUP": lambda w: w.reopen_logs(),  # the listener relays the master's USR1 as HUP
}


def install(target: Controllable, wakeup: Wakeup, parent_pid: int = 0) -> None:
    """Route the worker signals to ``target``; ask for QUIT when ``parent_pid`` dies."""

    def handle(signum: int, frame: Any) -> None:
        HANDLERS[signal_name(signum)[3:]](target)

    wakeup.catch(SIGNALS, handle)
    while _early:  # signals that came before the handlers (hold_until_installed)
        handle(_early.pop(0), None)
    if parent_pid:
        set_parent_death_signal(signal.SIGQUIT)


_early: list[int] = []


def hold_until_installed() -> None:
    """In a new worker whose listener forked it with ``SIGNUMS`` blocked: from now on they
    are recorded, and ``install`` hands them to the worker's handlers.

    So a QUIT sent to a worker that is still starting (TTOU, a HUP) is obeyed once it
    can be: neither fatal (the default disposition) nor lost.  The mask is cleared at
    once, so that processes the worker's start-up hooks start do not inherit it.
    """
    for signum in SIGNUMS:
        _set_handler(signum, _record)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNUMS)


def _record(signum: int, frame: Any) -> None:
    _early.append(signum)


def reset_in_job_child() -> None:
    """A job child: default dispositions, except TERM, which raises TermException in the job.

    Through the C function: ``signal.signal`` also turns the previous handler into an
    enum, raising and catching a ValueError for each of ours, which in a process that
    has just forked costs a copied page for every object it touches.
    """
    for signum in _RESET_IN_CHILD:
        _set_handler(signum, _SIG_DFL)
    _set_handler(signal.SIGTERM, _child_term)


_SIG_DFL = int(signal.SIG_DFL)  # the C function takes the plain int, not the enum
_RESET_IN_CHILD = tuple(int(getattr(signal, "SIG" + name)) for name in SIGNALS if name != "TERM")


def _child_term(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise TermException("SIGTERM")
