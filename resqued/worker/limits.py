"""A job's time limits, the exceptions guard rails raise or record, and the SIGALRM alarm.

A job's limits come from the most specific place that sets them: its class
(``job_timeout`` and ``job_soft_timeout`` attributes, which
``@resqued.job("Report", timeout=300, soft_timeout=240)`` sets), the worker's row
in the config, the global setting (``WorkerOptions`` holds the row's or the
global value).  0 is no limit.  A soft limit at or above the hard limit that
applies is dropped: it could never fire first.

- ``SoftTimeout`` is raised inside the job at its soft limit: catch it to clean up.
- ``JobTimeout`` is what a job stopped at its hard limit is recorded as (and,
  in a worker with no listener, what is raised inside an in-process job there:
  a ``BaseException``, so ``except Exception`` does not swallow it).
- ``MemoryLimitExceeded`` and ``WorkerStuck`` are what the listener's guard rails
  record a killed job as.

Failure records name them ``resqued.SoftTimeout``, ``resqued.JobTimeout``, ...
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from resqued import jobs
from resqued.resque.registry import FailureHook


class SoftTimeout(Exception):
    """Raised inside a job that passed its soft time limit: clean up, then return or raise."""


class JobTimeout(BaseException):
    """A job that passed its hard time limit."""


class MemoryLimitExceeded(Exception):
    """A job killed because its worker passed the hard memory limit."""


class WorkerStuck(Exception):
    """A job whose worker stopped reporting and was killed."""


for _exc in (SoftTimeout, JobTimeout, MemoryLimitExceeded, WorkerStuck):
    _exc.__module__ = "resqued"

EXCEPTIONS: dict[str, type[BaseException]] = {
    f"resqued.{e.__qualname__}": e for e in (JobTimeout, MemoryLimitExceeded, WorkerStuck)
}


def failure_hook(exc_type: type[BaseException]) -> FailureHook:
    """Runs a job's on_failure hooks with an ``exc_type`` for a job failed on its behalf
    (by the listener, or a threaded worker's main thread) from the record's message."""

    def run(class_name: str, exc: BaseException, args: list[Any]) -> None:
        jobs.run_failure_hooks(class_name, exc_type(str(exc)), args)

    return run


@dataclass(frozen=True)
class TimeLimits:
    """Seconds; 0.0 is none."""

    hard: float = 0.0
    soft: float = 0.0

    @classmethod
    def of(cls, hard: float, soft: float) -> TimeLimits:
        return cls(hard, 0.0 if hard and soft >= hard else soft)

    @property
    def tag(self) -> str:
        """`` [timeout 30s (soft 24s)]`` for a process title; empty with no limit."""
        if self.hard:
            return f" [timeout {self.hard:g}s{f' (soft {self.soft:g}s)' if self.soft else ''}]"
        return f" [soft timeout {self.soft:g}s]" if self.soft else ""


NO_LIMITS = TimeLimits()


def soft_message(limits: TimeLimits) -> str:
    return f"job passed its soft time limit of {limits.soft:g}s"


def hard_message(limits: TimeLimits, elapsed: float, what: str) -> str:
    return f"job timed out after {elapsed:.1f}s (hard time limit {limits.hard:g}s); {what}"


class BadLimit(ValueError):
    """A job class sets a time limit that is not a number of seconds (its jobs fail with it)."""


class ClassLimits:
    """The limits of each job class (its attributes over the worker's), worked out once."""

    def __init__(self, hard: float, soft: float) -> None:
        self.hard, self.soft = hard, soft
        self.default = TimeLimits.of(hard, soft)
        self._known: dict[type, TimeLimits] = {}

    def of(self, cls: type) -> TimeLimits:
        """BadLimit (one line) when the class sets a limit that is not a number of seconds."""
        found = self._known.get(cls)
        if found is None:
            hard = _attribute(cls, "job_timeout", self.hard)
            soft = _attribute(cls, "job_soft_timeout", self.soft)
            found = self._known[cls] = TimeLimits.of(hard, soft)
        return found


def _attribute(cls: type, name: str, default: float) -> float:
    value: Any = getattr(cls, name, None)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e12:
        raise BadLimit(
            f"job class {cls.__qualname__}: {name} must be a number of seconds, not {value!r}"
        )
    return float(value)


# Raises (exception type, message) inside the job; True: a soft one (see interrupt.py).
Interrupt = Callable[[type[BaseException], str, bool], object]


class Alarm:
    """SIGALRM in the process running a job: ``SoftTimeout`` at the soft limit, then
    (``hard_too``: a worker no listener watches) ``JobTimeout`` at the hard one.

    ``interrupt`` raises the exception inside the job: the handler runs in the main
    thread, which is the job's (a job child, or a single in-process worker).  Arming
    costs two ``setitimer`` calls per job, and only for jobs that have a limit.
    """

    def __init__(self, interrupt: Interrupt) -> None:
        self.interrupt = interrupt
        self.limits = NO_LIMITS
        self.begun = 0.0
        self.stages: list[tuple[float, type[BaseException]]] = []

    def arm(self, limits: TimeLimits, begun: float, hard_too: bool = False) -> bool:
        """Start the clock for a job that began at ``begun`` (monotonic); False: nothing to do."""
        stages: list[tuple[float, type[BaseException]]] = []
        if limits.soft:
            stages.append((limits.soft, SoftTimeout))
        if hard_too and limits.hard:
            stages.append((limits.hard, JobTimeout))
        if not stages:
            return False
        if signal.getsignal(signal.SIGALRM) != self._ring:  # first use, or a job took it
            signal.signal(signal.SIGALRM, self._ring)
        self.limits, self.begun, self.stages = limits, begun, stages
        self._next()
        return True

    def disarm(self) -> None:
        self.stages = []
        signal.setitimer(signal.ITIMER_REAL, 0)

    def _next(self) -> None:
        at = self.stages[0][0]
        signal.setitimer(signal.ITIMER_REAL, max(0.001, at - (time.monotonic() - self.begun)))

    def _ring(self, signum: int, frame: Any) -> None:
        if not self.stages:
            return  # rang as the job ended
        _, exc_type = self.stages.pop(0)
        if self.stages:
            self._next()
        if exc_type is SoftTimeout:
            self.interrupt(SoftTimeout, soft_message(self.limits), True)
        else:
            elapsed = time.monotonic() - self.begun
            message = hard_message(self.limits, elapsed, "it was interrupted")
            self.interrupt(JobTimeout, message, False)
