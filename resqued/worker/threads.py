"""Threads per process (Action Verb's hybrid model): one process, THREAD_COUNT job threads.

Each thread is a Resque worker of its own in Redis, with an id whose pid is
the process's (so Ruby's prune sees a live worker): ``host:pid:queues`` for
the first thread and ``host:pid:queues#N`` for the others.  Jobs run in
process; the main thread handles signals, through the same control surface a
single worker has, forwarding each call to every thread's worker.

USR1 and TERM raise ``JobKilled``/``TermException`` inside each thread's job
(see ``interrupt.py`` for what can be interrupted).  A job still running
INTERRUPT_BOUND seconds after USR1 cannot be interrupted: the other threads
stop as on QUIT (jobs their idle waits took go back to their queues), the
stuck job is recorded in ``failed`` as ``JobKilled``, and the process exits so
that it is replaced.

The main thread also times every thread's job: ``SoftTimeout`` is raised
inside it at its soft limit; at its hard limit a thread cannot be killed
alone, so it is treated as a job USR1 could not interrupt (the others stop as
on QUIT, the job is recorded as ``JobTimeout``, the process exits and is
replaced).  With a scoreboard, the main thread beats the supervisor's
heartbeat there, so a frozen process is seen even when every thread is in a job.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time

import redis

from resqued import hooks, jobs
from resqued.process import proctitle
from resqued.process.wakeup import Wakeup
from resqued.resque import failure, outage, registry
from resqued.resque.queues import QueueList
from resqued.resque.store import Store
from resqued.scoreboard import Scoreboard
from resqued.worker import orphaned
from resqued.worker.budget import JobBudget
from resqued.worker.control import BEAT_EVERY, JOB_KILLED, CurrentJob, reopen_log_files
from resqued.worker.heartbeat import Heartbeat
from resqued.worker.lifecycle import Worker, first_fork_hooks
from resqued.worker.limits import JobTimeout, failure_hook, hard_message
from resqued.worker.options import WorkerOptions
from resqued.worker.signals import install as install_signals

log = logging.getLogger("resqued")

INTERRUPT_BOUND = 5.0  # seconds a thread's job has to end after USR1
STUCK_ERROR = f"{JOB_KILLED} (it could not be interrupted; its worker process exited)"


class ThreadedWorker:
    def __init__(
        self,
        store: Store,
        queues: QueueList,
        options: WorkerOptions,
        threads: int,
        board: Scoreboard | None = None,
    ) -> None:
        opts = dataclasses.replace(options, fork_per_job=False)
        budget = None
        if options.jobs_per_fork:
            budget = JobBudget(options.jobs_per_fork, self._recycle)
        self.board = board
        self.id = registry.worker_id(str(queues))
        self.store = store
        self.queues = queues
        self.options = options
        self.workers = [
            Worker(
                store,
                queues,
                opts,
                self.id if i == 0 else f"{self.id}#{i + 1}",
                owns_process=False,
                budget=budget,
                board=board,
                thread=i,
            )
            for i in range(threads)
        ]
        self.wakeup = Wakeup()
        self.stopping = False
        self.stopping_now = False
        self.logs_to_reopen = False
        self._kills: list[tuple[Worker, CurrentJob]] = []  # USR1's targets, checked at the bound
        self._kill_check_at = 0.0
        self._stuck: list[Worker] = []
        self._soft_sent: set[CurrentJob] = set()  # jobs told of their soft limit
        self._timed_out: dict[Worker, CurrentJob] = {}  # jobs past their hard limit
        self._done: set[Worker] = set()  # threads whose worker has returned
        self._left_to_listener = False  # a job's record Redis refused: the listener records it
        self._memory_at = 0.0  # when the process next measures itself, its listener gone

    # -- the control surface, forwarded to every thread's worker -------------------

    def stop(self, graceful: bool, reason: str = "SIGTERM") -> None:
        self.stopping = True
        self.stopping_now = self.stopping_now or not graceful
        for w in self.workers:
            w.stop(graceful, reason)
        self.wakeup.poke()

    def pause(self) -> None:
        for w in self.workers:
            w.pause()

    def resume(self) -> None:
        for w in self.workers:
            w.resume()

    def kill_current_job(self) -> None:
        """Kill the job of every thread; see the module docstring for jobs that will not die."""
        targets = [(w, job) for w in self.workers if (job := w.current_job) is not None]
        for w, _ in targets:
            w.kill_current_job()
        if targets:
            self._kills = targets
            self._kill_check_at = time.monotonic() + INTERRUPT_BOUND
            self.wakeup.poke()

    def reopen_logs(self) -> None:
        self.logs_to_reopen = True
        self.wakeup.poke()

    # -- the process ---------------------------------------------------------------------

    def work(self) -> int:
        install_signals(self, self.wakeup, self.options.parent_pid)
        proctitle.worker("Starting")
        if self.board is not None:
            self.board.supervisor_beat()
        if not first_fork_hooks(self.id):
            return 1
        heartbeat = None
        if self.board is None:
            heartbeat = Heartbeat(self.store, [w.id for w in self.workers]).start()
        threads = {
            w: threading.Thread(target=self._thread, args=(w,), name=f"job-{i + 1}", daemon=True)
            for i, w in enumerate(self.workers)
        }
        for t in threads.values():
            t.start()
        log.info("worker %s started with %d threads", self.id, len(threads))
        try:
            self._supervise(threads)
        finally:
            if heartbeat is not None:
                heartbeat.stop()
            for w in threads:
                if w not in self._done:  # a job still running is failed, never lost
                    self._fail_running(w)
            hooks.run_worker_hooks("worker_exit")
            log.info("worker %s exiting", self.id)
        if self._left_to_listener:
            os._exit(3)  # not a clean exit: the listener unregisters our ids (exits.py)
        if len(self._done) < len(threads):
            os._exit(1 if self.stopping_now else 0)
        return 0

    def _thread(self, w: Worker) -> None:
        try:
            w.work()
        finally:
            self._done.add(w)
            self.wakeup.poke()  # the main thread looks at the threads again at once

    def _supervise(self, threads: dict[Worker, threading.Thread]) -> None:
        """Wait for the threads, watching the TERM timeout, USR1's bound and the parent."""
        kill_at = 0.0
        while any(w not in self._done for w in threads if w not in self._stuck):
            now = time.monotonic()
            if self.logs_to_reopen:
                self.logs_to_reopen = False
                reopen_log_files()
            if self.stopping_now and not kill_at:
                kill_at = now + self.options.term_timeout
            if kill_at and now >= kill_at:
                log.warning("worker %s: jobs still running after TERM; leaving", self.id)
                return
            if self._kill_check_at and now >= self._kill_check_at:
                self._check_kills()
            if self._parent_gone() and not self.stopping:
                self.stop(graceful=True)
            if self.board is not None:
                self.board.supervisor_beat()
            if self.options.memory_limit and now >= self._memory_at:
                self._memory_at = now + BEAT_EVERY
                self._check_memory_alone()
            limit_at = self._check_time_limits(now)
            deadlines = [t for t in (kill_at, self._kill_check_at, limit_at) if t]
            timeout = max(0.05, min(deadlines) - now) if deadlines else BEAT_EVERY
            self.wakeup.wait(min(timeout, BEAT_EVERY))

    def _check_memory_alone(self) -> None:
        """Its listener gone, the process holds the hard memory limit itself, as the listener
        would: every job it runs recorded as ``MemoryLimitExceeded``, the process killed."""
        if not orphaned.watching(self.options):
            return
        message = orphaned.above_limit(self.options.memory_limit, os.getpid())
        if message is not None:
            orphaned.fail_and_die(self.store, [w.id for w in self.workers], message)

    def _check_kills(self) -> None:
        self._kill_check_at = 0.0
        stuck = [w for w, job in self._kills if w.current_job is job]
        self._kills = []
        if not stuck:
            return
        log.warning(
            "worker %s: USR1 could not interrupt the job of %s (blocked outside Python code); "
            "the other threads stop as on QUIT and the process exits to be replaced",
            self.id,
            ", ".join(w.id for w in stuck),
        )
        self._stuck += [w for w in stuck if w not in self._stuck]
        self.stop(graceful=True)

    def _check_time_limits(self, now: float) -> float:
        """Soft limits: SoftTimeout in the job.  Hard limits: stop as on QUIT, then exit.

        Returns the next moment a limit passes (0.0: none).
        """
        soon = 0.0
        running = set()
        for w in self.workers:
            current = w.current_job
            if current is None or w in self._stuck:
                continue
            running.add(current)
            limits, begun = current.limits, current.begun
            if limits.soft and current not in self._soft_sent:
                if now >= begun + limits.soft:
                    self._soft_sent.add(current)
                    w.soft_time_limit(current)
                else:
                    soon = min(soon or float("inf"), begun + limits.soft)
            if limits.hard:
                if now >= begun + limits.hard:
                    self._timed_out[w] = current
                    self._hard_limit(w, current, now - begun)
                else:
                    soon = min(soon or float("inf"), begun + limits.hard)
        self._soft_sent &= running
        return soon

    def _hard_limit(self, w: Worker, current: CurrentJob, elapsed: float) -> None:
        log.warning(
            "worker %s: job %s ran past its hard time limit of %gs (%.1fs): a thread cannot be "
            "killed alone; the other threads stop as on QUIT and the process exits to be replaced",
            w.id,
            current.job.class_name,
            current.limits.hard,
            elapsed,
        )
        self._stuck.append(w)
        if self.board is not None:
            self.board.exiting("timed out")
            for other in self.workers:  # Redis down: exit all the same, the listener records
                other.hurry = True
        self.stop(graceful=True)

    def _recycle(self) -> None:
        """The process took its last job (jobs_per_fork): finish, then make way."""
        if self.board is not None:
            self.board.exiting(f"recycled after {self.options.jobs_per_fork} jobs")
        self.stop(graceful=True)

    def _fail_running(self, w: Worker) -> None:
        timed_out = self._timed_out.get(w)
        if timed_out is not None and w.current_job is timed_out:
            elapsed = time.monotonic() - timed_out.begun
            error = hard_message(
                timed_out.limits, elapsed, "it could not be interrupted; its worker process exited"
            )
            exception, hook = "resqued.JobTimeout", failure_hook(JobTimeout)
        elif w in self._stuck:
            exception, error, hook = "resqued.worker.JobKilled", STUCK_ERROR, jobs.run_failure_hooks
        else:
            exception, error, hook = failure.DIRTY_EXIT, "Worker killed by TERM", None
        while True:
            try:
                registry.unregister(self.store, w.id, exception, error, dead_job_hook=hook)
            except redis.RedisError as exc:
                if self.stopping_now or not outage.is_outage(exc):
                    log.error("worker %s: could not unregister: %s", w.id, exc)
                    return
                if self.board is not None:
                    # Exit now (waiting, the job would run on past its limit); the listener
                    # reads its limit on our scoreboard and records it once Redis takes it.
                    log.error("worker %s: not unregistered (%s); left to its listener", w.id, exc)
                    self._left_to_listener = True
                    return
                w.retry.down(exc)  # no listener: wait the outage out, so the job keeps its reason
                self.wakeup.wait(w.retry.delay())
                continue
            w.retry.up()
            return

    def _parent_gone(self) -> bool:
        parent = self.options.parent_pid
        return bool(parent) and os.getppid() != parent
