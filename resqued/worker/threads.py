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
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time

import redis

from resqued import hooks, jobs, proctitle
from resqued.resque import failure, registry
from resqued.resque.queues import QueueList
from resqued.resque.store import Store
from resqued.wakeup import Wakeup
from resqued.worker.budget import JobBudget
from resqued.worker.control import JOB_KILLED, CurrentJob, reopen_log_files
from resqued.worker.heartbeat import Heartbeat
from resqued.worker.lifecycle import Worker, first_fork_hooks
from resqued.worker.options import WorkerOptions
from resqued.worker.signals import install as install_signals

log = logging.getLogger("resqued")

INTERRUPT_BOUND = 5.0  # seconds a thread's job has to end after USR1
STUCK_ERROR = f"{JOB_KILLED} (it could not be interrupted; its worker process exited)"


class ThreadedWorker:
    def __init__(
        self, store: Store, queues: QueueList, options: WorkerOptions, threads: int
    ) -> None:
        opts = dataclasses.replace(options, fork_per_job=False)
        budget = None
        if options.jobs_per_fork:
            budget = JobBudget(options.jobs_per_fork, lambda: self.stop(graceful=True))
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

    # -- the control surface, forwarded to every thread's worker -------------------

    @property
    def current_jobs(self) -> list[CurrentJob]:
        return [job for w in self.workers if (job := w.current_job) is not None]

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
        if not first_fork_hooks(self.id):
            return 1
        heartbeat = Heartbeat(self.store, [w.id for w in self.workers]).start()
        threads = {
            w: threading.Thread(target=w.work, name=f"job-{i + 1}", daemon=True)
            for i, w in enumerate(self.workers)
        }
        for t in threads.values():
            t.start()
        log.info("worker %s started with %d threads", self.id, len(threads))
        try:
            self._supervise(threads)
        finally:
            heartbeat.stop()
            for w, t in threads.items():
                if t.is_alive():  # a job still running is failed, never lost
                    self._fail_running(w)
            hooks.run_worker_hooks("worker_exit")
            log.info("worker %s exiting", self.id)
        if any(t.is_alive() for t in threads.values()):
            os._exit(1 if self.stopping_now else 0)
        return 0

    def _supervise(self, threads: dict[Worker, threading.Thread]) -> None:
        """Wait for the threads, watching the TERM timeout, USR1's bound and the parent."""
        kill_at = 0.0
        while any(t.is_alive() for w, t in threads.items() if w not in self._stuck):
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
            deadlines = [t for t in (kill_at, self._kill_check_at) if t]
            timeout = max(0.05, min(deadlines) - now) if deadlines else 1.0
            self.wakeup.wait(min(timeout, 1.0))

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

    def _fail_running(self, w: Worker) -> None:
        if w in self._stuck:
            exception, error, hook = "resqued.worker.JobKilled", STUCK_ERROR, jobs.run_failure_hooks
        else:
            exception, error, hook = failure.DIRTY_EXIT, "Worker killed by TERM", None
        try:
            registry.unregister(self.store, w.id, exception, error, dead_job_hook=hook)
        except redis.RedisError as exc:
            log.error("worker %s: could not unregister: %s", w.id, exc)

    def _parent_gone(self) -> bool:
        parent = self.options.parent_pid
        return bool(parent) and os.getppid() != parent
