"""One worker's control surface: stop, pause, resume, kill the current job, reopen logs.

Every method is safe to call from a signal handler or another thread: it sets
a flag the loop reads and wakes the loop.  An in-process job is interrupted by
``stop(graceful=False)`` and ``kill_current_job()`` by raising inside it: at
once when the caller runs in the job's own thread (a signal handler of a
single in-process worker), else through ``interrupt.py``.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass

from resqued import logs
from resqued.resque.payload import Job
from resqued.wakeup import Wakeup
from resqued.worker.interrupt import Interruptible
from resqued.worker.signals import JobKilled, TermException

log = logging.getLogger("resqued")

JOB_KILLED = "job killed by USR1"


@dataclass(frozen=True, eq=False)
class CurrentJob:
    """The job a worker is on, and since when (epoch seconds)."""

    job: Job
    started: float


class Control:
    def __init__(self, wakeup: Wakeup) -> None:
        self.wakeup = wakeup  # the loop sleeps on it; every control call pokes it
        self.stopping = False  # QUIT: finish the current job, then exit
        self.stopping_now = False  # TERM/INT: stop now
        self.paused = False  # USR2 until CONT
        self.stop_reason = ""  # the signal that said stop now
        self.kill_requested: CurrentJob | None = None  # USR1 asked to kill this job
        self.logs_to_reopen = False  # HUP: reopened at the next safe point, never inside a job
        self.interruptible = Interruptible()  # where an in-process job runs
        self._current: CurrentJob | None = None

    # -- the surface ---------------------------------------------------------

    @property
    def current_job(self) -> CurrentJob | None:
        return self._current

    def stop(self, graceful: bool, reason: str = "SIGTERM") -> None:
        """Graceful: finish the current job, then exit. Otherwise stop now, killing the job."""
        self.stopping = True
        if not graceful:
            self.stopping_now = True
            self.stop_reason = self.stop_reason or reason
        self.wakeup.poke()
        if not graceful:
            self.interruptible.interrupt(TermException, reason)

    def pause(self) -> None:
        self.paused = True
        self.wakeup.poke()

    def resume(self) -> None:
        self.paused = False
        self.wakeup.poke()

    def kill_current_job(self) -> None:
        """Fail the current job (if any) and keep working."""
        current = self._current
        if current is None:
            return
        self.kill_requested = current
        self.wakeup.poke()
        self.interruptible.interrupt(JobKilled, JOB_KILLED)

    def reopen_logs(self) -> None:
        self.logs_to_reopen = True
        self.wakeup.poke()

    # -- for the loop ----------------------------------------------------------

    def job_started(self, job: Job) -> CurrentJob:
        self._current = CurrentJob(job, time.time())
        return self._current

    def job_ended(self) -> None:
        self._current = None

    def interruption(self) -> BaseException | None:
        """What a job about to start in process must raise at once: a stop or kill asked already."""
        if self.stopping_now:
            return TermException(self.stop_reason or "SIGTERM")
        current = self._current
        if current is not None and self.kill_requested is current:
            return JobKilled(JOB_KILLED)
        return None

    def sleep(self, seconds: float, *fds: int) -> list[int]:
        """Sleep until a control call or signal, one of ``fds`` is readable, or time is up."""
        ready = self.wakeup.wait(seconds, *fds)
        if self.logs_to_reopen:
            self.reopen_logs_now()
        return ready

    def reopen_logs_now(self) -> None:
        self.logs_to_reopen = False
        reopen_log_files()


def reopen_log_files() -> None:
    """Reopen the log files, or log on one line why not and keep the open ones.

    A worker that dropped its privileges (``user()``) may not open a root-owned file.
    """
    logs.reopen_or_keep(f"worker {os.getpid()}")
