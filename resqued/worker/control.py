"""One worker's control surface: stop, pause, resume, kill the current job, reopen logs.

Every method is safe to call from a signal handler or another thread: it sets
a flag the loop reads and wakes the loop.  An in-process job is interrupted by
``stop(graceful=False)``, ``kill_current_job()`` and ``soft_time_limit()`` by
raising inside it: at once when the caller runs in the job's own thread (a
signal handler of a single in-process worker), else through ``interrupt.py``.

Every wait of the worker goes through ``sleep``: with a scoreboard (a worker
its listener watches), it beats the worker's heartbeat there at least every
BEAT_EVERY seconds while it waits, idle or supervising a job child.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass

from resqued.process import logs
from resqued.process.wakeup import Wakeup
from resqued.resque.payload import Job
from resqued.scoreboard import Scoreboard
from resqued.worker.interrupt import Interruptible
from resqued.worker.limits import NO_LIMITS, SoftTimeout, TimeLimits, soft_message
from resqued.worker.signals import JobKilled, TermException

log = logging.getLogger("resqued")

JOB_KILLED = "job killed by USR1"
BEAT_EVERY = 1.0  # seconds between scoreboard heartbeats while the worker waits


@dataclass(eq=False, slots=True)  # compared by identity; not frozen: made for every job
class CurrentJob:
    """The job a worker is on, since when (epoch seconds, and monotonic), and its time limits."""

    job: Job
    started: float
    begun: float = 0.0
    limits: TimeLimits = NO_LIMITS


class Control:
    def __init__(self, wakeup: Wakeup) -> None:
        self.wakeup = wakeup  # the loop sleeps on it; every control call pokes it
        self.stopping = False  # QUIT: finish the current job, then exit
        self.stopping_now = False  # TERM/INT: stop now
        self.paused = False  # USR2 until CONT
        self.hurry = False  # the process must exit soon: an outcome Redis will not take is left
        self.stop_reason = ""  # the signal that said stop now
        self.kill_requested: CurrentJob | None = None  # USR1 asked to kill this job
        self.logs_to_reopen = False  # HUP: reopened at the next safe point, never inside a job
        self.interruptible = Interruptible()  # where an in-process job runs
        self.board: Scoreboard | None = None  # what the listener reads (None: standalone)
        self.thread = 0  # this worker's record on the board
        self.changes = 0  # counts control calls, so a beating sleep knows it was woken
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
        self._wake()
        if not graceful:
            self.interruptible.interrupt(TermException, reason)

    def pause(self) -> None:
        self.paused = True
        self._wake()

    def resume(self) -> None:
        self.paused = False
        self._wake()

    def kill_current_job(self) -> None:
        """Fail the current job (if any) and keep working."""
        current = self._current
        if current is None:
            return
        self.kill_requested = current
        self._wake()
        self.interruptible.interrupt(JobKilled, JOB_KILLED)

    def soft_time_limit(self, current: CurrentJob) -> bool:
        """Raise ``SoftTimeout`` inside ``current`` if it still runs in process here."""
        if self._current is not current:
            return False
        return self.interruptible.interrupt(SoftTimeout, soft_message(current.limits), soft=True)

    def reopen_logs(self) -> None:
        self.logs_to_reopen = True
        self._wake()

    def _wake(self) -> None:
        self.changes += 1
        self.wakeup.poke()

    # -- for the loop ----------------------------------------------------------

    def job_started(
        self, job: Job, limits: TimeLimits = NO_LIMITS, begun: float = 0.0
    ) -> CurrentJob:
        """``begun``: the job's start on the monotonic clock, when the caller has it."""
        self._current = CurrentJob(job, time.time(), begun or time.monotonic(), limits)
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
        if self.board is None:
            ready = self.wakeup.wait(seconds, *fds)
        else:
            ready = self._sleep_beating(seconds, fds)
        if self.logs_to_reopen:
            self.reopen_logs_now()
        return ready

    def beat(self) -> None:
        """Tell the listener this worker is alive (a no-op for a standalone worker)."""
        if self.board is not None:
            self.board.beat(self.thread)

    def _sleep_beating(self, seconds: float, fds: tuple[int, ...]) -> list[int]:
        """Wait in steps of BEAT_EVERY, beating after each quiet one.

        A wait that ends early (an fd, a control call) does not beat: the worker is
        about to do something, and its job start or end beats anyway.
        """
        seen = self.changes
        if seconds <= BEAT_EVERY:
            ready = self.wakeup.wait(seconds, *fds)
            if not ready and self.changes == seen:
                self.beat()
            return ready
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            ready = self.wakeup.wait(min(left, BEAT_EVERY), *fds)
            if ready or self.changes != seen:
                return ready
            self.beat()
            if left <= BEAT_EVERY:
                return ready

    def reopen_logs_now(self) -> None:
        self.logs_to_reopen = False
        reopen_log_files()


def reopen_log_files() -> None:
    """Reopen the log files, or log on one line why not and keep the open ones.

    A worker that dropped its privileges (``user()``) may not open a root-owned file.
    """
    logs.reopen_or_keep(f"worker {os.getpid()}")
