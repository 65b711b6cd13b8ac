"""Fork per job: the worker forks a child for each job and supervises it to the end.

The child performs the job and writes one JSON report to a pipe.  The worker
watches the child's exit through a pidfd (polled where there is none), not
through the pipe alone: a grandchild the job left running may hold the pipe
open.  Where the pipe holds a whole report (Linux's default 64 KiB does), the
child never waits for the worker to read: the worker waits for the exit alone,
then reads, one wake-up a job.  TERM (``stopping_now``) and USR1
(``kill_requested``) reach the child from the supervision loop.

Each child leads a process group of its own.  Signals for the job go to the
whole group, and when the child has exited (before it is reaped, so its pid
cannot be reused) the group gets KILL: processes a job started do not outlive
it, unless they left the group themselves (``setsid``, ``start_new_session``).

A child dies with its worker (its parent-death signal is ``KILL``): a worker
killed mid-job takes the job along, its listener ends the rest of the job's
group and records the job in ``failed`` (``listener/watch.py``).  Nothing is
left running without a time or memory limit, and the job is never run twice.
A child with a hard time limit also arms its own watchdog (``watchdog.py``, KILL
a second past the limit), for a worker that cannot act then (stopped, hung).
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import time
from collections.abc import Callable
from typing import NoReturn

from resqued import hooks, job_hooks
from resqued.process import proctitle
from resqued.process.proc import set_parent_death_signal
from resqued.resque import failure
from resqued.resque.payload import Job
from resqued.scoreboard import Scoreboard
from resqued.worker import child_process, job_report, orphaned
from resqued.worker.control import BEAT_EVERY, Control, CurrentJob
from resqued.worker.limits import Alarm, JobTimeout, MemoryLimitExceeded, hard_message
from resqued.worker.options import WorkerOptions
from resqued.worker.outcome import Outcome
from resqued.worker.signals import reset_in_job_child
from resqued.worker.watchdog import Watchdog

log = logging.getLogger("resqued")

# The job child's own watchdog fires this long after the hard limit: the worker's kill,
# which records the job as timed out, normally comes first.
CHILD_WATCHDOG_GRACE = 1.0

# Records a job's outcome from the child itself, when its worker died meanwhile.
OrphanRecorder = Callable[[Job, Outcome], None]


def freeze_for_fork() -> None:
    """Keep the job child from dirtying the worker's pages with GC bookkeeping.

    What is frozen is never collected in the worker, so the cyclic garbage made
    since the last fork is collected first (young generations only: about a
    microsecond), else every such cycle would stay for the worker's life.
    """
    gc.collect(1)
    gc.freeze()


class ForkedJob:
    def __init__(self, control: Control, options: WorkerOptions, orphaned: OrphanRecorder) -> None:
        self.control = control
        self.options = options
        self.orphaned = orphaned

    def run(self, job: Job, cls: type) -> Outcome:
        if hooks.has_worker_hooks("before_fork"):
            try:
                hooks.run_worker_hooks("before_fork", job)
            except Exception as exc:  # the job fails; the worker goes on (hooks.POLICY)
                hooks.on_failure(cls, exc, job.args)
                return Outcome.of(exc, cls)
        # Look the class's hooks up here, once: a lookup made in a child is lost with it.
        job_hooks.warm(cls)
        control = self.control
        current = control.current_job or control.job_started(job)
        worker_pid = os.getpid()
        tag = current.limits.tag
        # The child's title, made here: the child's every write to memory copies a page.
        title = proctitle.worker_title(proctitle.processing(job.queue, job.class_name, tag))
        read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
        freeze_for_fork()
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            self._child(job, cls, write_fd, worker_pid, current, title)
        child_process.own_group(pid)  # also done in the child: whichever runs first
        os.close(write_fd)
        if control.board is not None:
            control.board.job_child(pid, control.thread)
        proctitle.worker(f"Forked {pid} at {int(time.time())}{tag}")
        try:
            status, data, killed = self._supervise(pid, read_fd, current)
        finally:
            os.close(read_fd)
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 and data:
            reported = job_report.read(data)
            if reported is not None:  # else not our child's report: a dirty exit
                return reported
        error: BaseException
        if killed is not None and os.WIFSIGNALED(status):  # a guard rail killed it
            error = killed
            outcome = Outcome.of(killed, cls)
        else:
            message = failure.signal_exit_message(pid, status)
            error = RuntimeError(message)
            outcome = Outcome(failure.DIRTY_EXIT, message, [], Outcome.of(error, cls).retryable)
        hooks.on_failure(cls, error, job.args)
        return outcome

    # -- the worker's side -------------------------------------------------------

    def _supervise(
        self, pid: int, read_fd: int, current: CurrentJob
    ) -> tuple[int, bytes, BaseException | None]:
        """Collect the child's report and exit status, relaying TERM and USR1 to it.

        Also kills it at its hard time limit, or when the listener asks (hard memory
        limit), or above that limit once the listener is gone (``orphaned.py``); the
        third value is then what the job is recorded as.
        """
        control, opts = self.control, self.options
        chunks: list[bytes] = []
        kill_at = 0.0
        killed_for: object = None
        killed: BaseException | None = None  # by a guard rail, and why
        limits = current.limits
        hard_at = current.begun + limits.hard if limits.hard else 0.0
        # The listener asks for kills only with a memory limit.  Touch nothing more than
        # needed while the child runs: every page the worker writes then is copied.
        board = control.board if opts.memory_limit else None
        alone = bool(opts.memory_limit and opts.parent_pid)  # may have to measure itself
        exited = child_process.pidfd_open(pid)  # readable once the child has exited
        reading = True  # the pipe has not reached its end
        # When the whole report fits in the pipe the child never waits for us to read
        # it: wait for its exit alone, then read, one wake-up a job.  Else read as it comes.
        watch = exited is None or child_process.pipe_size(read_fd) < job_report.MAX_RESULT_BYTES
        fds = child_process.fds(read_fd if watch else None, exited)
        done = False
        try:
            while not done:
                if control.stopping_now and not kill_at:
                    kill_at = time.monotonic() + (opts.term_timeout if opts.term_child else 0)
                    if opts.term_child:
                        child_process.signal_group(pid, signal.SIGTERM)
                if kill_at and time.monotonic() >= kill_at:
                    child_process.signal_group(pid, signal.SIGKILL)
                if control.kill_requested is current and killed_for is not current:
                    killed_for = current
                    child_process.signal_group(pid, signal.SIGKILL)
                if killed is None and (hard_at or board is not None):
                    killed = self._guard_rails(pid, current, hard_at, board)
                    hard_at = 0.0 if killed is not None else hard_at
                if killed is None and alone and orphaned.watching(opts):
                    killed = self._memory_alone(pid)
                    hard_at = 0.0 if killed is not None else hard_at
                # Loop every second at least (the listener's requests, the heartbeat),
                # polling five times a second without a pidfd.
                timeout = BEAT_EVERY if exited is not None else 0.2
                for at in (kill_at, hard_at):
                    if at:
                        timeout = min(timeout, max(0.05, at - time.monotonic()))
                ready = control.sleep(timeout, *fds)
                if watch and read_fd in ready:
                    chunk = os.read(read_fd, 65536)
                    chunks.append(chunk)
                    reading = watch = bool(chunk)  # EOF: the child closed its end, or exited
                    fds = child_process.fds(read_fd if watch else None, exited)
                done = exited in ready or child_process.has_exited(pid)
        finally:
            if exited is not None:
                os.close(exited)
        if killed is None and hard_at and time.monotonic() >= hard_at + CHILD_WATCHDOG_GRACE:
            # We could not act at the limit (stopped, hung): the child's own watchdog did.
            what = "its process was killed by its watchdog"
            killed = JobTimeout(hard_message(limits, limits.hard + CHILD_WATCHDOG_GRACE, what))
        # The child has exited but is not reaped yet, so its pid (the group's id) cannot
        # be reused: end whatever the job left running in its group, then reap.
        child_process.signal_group(pid, signal.SIGKILL)
        status = child_process.reap(pid)
        if board is not None and (request := board.kill_request()) and request[0] == pid:
            board.kill_done()  # asked as the job ended: nothing left to do
        if reading:  # what the child wrote before it exited (never block on a grandchild)
            os.set_blocking(read_fd, False)
            try:
                while chunk := os.read(read_fd, 65536):
                    chunks.append(chunk)
            except BlockingIOError:
                pass
        return status, b"".join(chunks), killed

    def _guard_rails(
        self, pid: int, current: CurrentJob, hard_at: float, board: Scoreboard | None
    ) -> BaseException | None:
        """Kill the child at its hard time limit or at the listener's request; why, if so."""
        now = time.monotonic()
        if hard_at and now >= hard_at:
            child_process.signal_group(pid, signal.SIGKILL)
            elapsed = now - current.begun
            return JobTimeout(hard_message(current.limits, elapsed, "its process was killed"))
        if board is None or (request := board.kill_request()) is None:
            return None
        board.kill_done()
        if request[0] != pid:
            return None  # about a child of ours that has ended: stale
        child_process.signal_group(pid, signal.SIGKILL)
        return MemoryLimitExceeded(request[1])

    def _memory_alone(self, pid: int) -> BaseException | None:
        """The listener is gone: kill the child above the hard memory limit, as it would."""
        message = orphaned.above_limit(self.options.memory_limit, os.getpid(), pid)
        if message is None:
            return None
        log.warning("worker %d: memory hard (its listener is gone): %s", os.getpid(), message)
        child_process.signal_group(pid, signal.SIGKILL)
        return MemoryLimitExceeded(message)

    # -- the child's side ----------------------------------------------------------

    def _child(
        self, job: Job, cls: type, write_fd: int, worker_pid: int, current: CurrentJob, title: str
    ) -> NoReturn:
        """Perform one job, write one report, leave with _exit (never returns)."""
        code = 0
        try:
            # Die with the worker: a worker SIGKILLed (or OOM-killed) mid-job must not
            # leave its job running with no time or memory limit and no one to record it.
            # A worker that died before this line is seen by getppid: nothing is run.
            set_parent_death_signal(signal.SIGKILL)
            if os.getppid() != worker_pid:
                os._exit(1)
            child_process.own_group(0)
            self.control.wakeup.close()
            reset_in_job_child()
            proctitle.set_title(title)
            limits = current.limits
            if limits.hard:  # a worker that cannot act (stopped, hung) cannot let it run on
                Watchdog().arm(current.begun + limits.hard + CHILD_WATCHDOG_GRACE)
            alarm = Alarm(_raise) if limits.soft else None
            armed = alarm is not None and alarm.arm(limits, current.begun)  # SoftTimeout
            try:
                try:
                    if hooks.has_worker_hooks("after_fork"):
                        hooks.run_worker_hooks("after_fork", job)  # raising fails the job
                    job_hooks.perform(cls, job.args)
                    outcome = Outcome()
                finally:
                    if armed and alarm is not None:
                        alarm.disarm()
            except BaseException as exc:  # a job may raise anything, sys.exit too
                hooks.on_failure(cls, exc, job.args)
                outcome = Outcome.of(exc, cls)
            job_report.write(write_fd, outcome)
            if os.getppid() != worker_pid:  # the worker died while we worked (no prctl here)
                self.orphaned(job, outcome)
        except BaseException:  # the report could not be made: the worker records a DirtyExit
            log.exception("worker child %d crashed", os.getpid())
            code = 1
        finally:
            os._exit(code)


def _raise(exc_type: type[BaseException], message: str, soft: bool) -> None:
    """In a job child, the alarm's handler runs in the job's thread: raise right there."""
    raise exc_type(message)
