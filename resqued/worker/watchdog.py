"""The in-process worker's watchdog: a kernel timer that KILLs the worker at its job's hard limit.

An in-process job cannot be killed alone, so at its hard time limit its whole
worker process goes.  The listener does that from the worker's scoreboard, but
a listener blocked on Redis (``CLIENT PAUSE``, a slow server) or stopped
(``SIGSTOP``) would let the job run on.  So the worker also arms a POSIX timer
(``timer_create`` on ``CLOCK_MONOTONIC``, the clock of ``time.monotonic``) that
delivers ``SIGKILL`` at the deadline: the kernel acts, not Python, so neither
Redis, nor the listener, nor a job holding the GIL in C code can delay it.  The
listener, reaping the worker, reads from the scoreboard that the job passed its
hard limit and records it as ``resqued.JobTimeout``.

Two ``timer_settime`` calls a job, and only for jobs with a hard limit.  Where
the timer cannot be made (not Linux, a seccomp filter) the listener's own kill
is the hard limit, as before.
"""

from __future__ import annotations

import ctypes
import logging
import signal
import sys

log = logging.getLogger("resqued")

CLOCK_MONOTONIC = 1
SIGEV_SIGNAL = 0
TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


class _Sigevent(ctypes.Structure):
    """``struct sigevent`` (64 bytes in glibc and musl); only the signal fields are set."""

    _fields_ = [
        ("sigev_value", ctypes.c_void_p),
        ("sigev_signo", ctypes.c_int),
        ("sigev_notify", ctypes.c_int),
        ("_rest", ctypes.c_int * 16),
    ]


def _libc() -> ctypes.CDLL | None:
    for name in (None, "librt.so.1"):  # glibc < 2.34 keeps the timer calls in librt
        try:
            lib = ctypes.CDLL(name, use_errno=True)
            lib.timer_create  # noqa: B018 (present?)
        except (OSError, AttributeError):
            continue
        return lib
    return None


class Watchdog:
    """``SIGKILL`` for this process at a ``time.monotonic()`` deadline, armed job by job."""

    def __init__(self) -> None:
        self._lib: ctypes.CDLL | None = None
        self._timer = ctypes.c_void_p()
        if not sys.platform.startswith("linux"):
            return
        lib = _libc()
        if lib is None:
            return
        event = _Sigevent()
        event.sigev_notify = SIGEV_SIGNAL
        event.sigev_signo = int(signal.SIGKILL)
        if lib.timer_create(CLOCK_MONOTONIC, ctypes.byref(event), ctypes.byref(self._timer)):
            log.warning(
                "no watchdog timer (timer_create: errno %d): the listener alone holds "
                "in-process hard time limits",
                ctypes.get_errno(),
            )
            return
        self._lib = lib

    @property
    def available(self) -> bool:
        return self._lib is not None

    def arm(self, deadline: float) -> bool:
        """KILL this process at ``deadline`` (monotonic seconds) unless disarmed first."""
        return self._set(deadline)

    def disarm(self) -> None:
        self._set(0.0)

    def _set(self, deadline: float) -> bool:
        if self._lib is None:
            return False
        spec = _Itimerspec()
        if deadline > 0:
            sec = int(deadline)
            spec.it_value.tv_sec = sec
            spec.it_value.tv_nsec = max(1, int((deadline - sec) * 1e9))  # 0 would disarm
        timer, flags = self._timer, TIMER_ABSTIME if deadline > 0 else 0
        return bool(self._lib.timer_settime(timer, flags, ctypes.byref(spec), None) == 0)
