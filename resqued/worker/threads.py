"""Threads per process (Action Verb's hybrid model): one process, THREAD_COUNT job threads.

Each thread is a Resque worker of its own in Redis, with an id whose pid is
the process's (so Ruby's prune sees a live worker): ``host:pid:queues`` for
the first thread and ``host:pid:queues#N`` for the others.  Jobs run in
process; the main thread only handles signals, through the same control
surface a single worker has, forwarding each call to every thread's worker.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import threading
import time

import redis

from resqued import hooks, logs, proctitle
from resqued.resque import failure, registry
from resqued.resque.queues import QueueList
from resqued.resque.store import Store
from resqued.wakeup import Wakeup
from resqued.worker.control import CurrentJob
from resqued.worker.heartbeat import Heartbeat
from resqued.worker.lifecycle import Worker
from resqued.worker.options import WorkerOptions
from resqued.worker.signals import install as install_signals

log = logging.getLogger("resqued")


class ThreadedWorker:
    def __init__(
        self, store: Store, queues: QueueList, options: WorkerOptions, threads: int
    ) -> None:
        per_thread = math.ceil(options.jobs_per_fork / threads) if options.jobs_per_fork else 0
        opts = dataclasses.replace(options, fork_per_job=False, jobs_per_fork=per_thread)
        self.id = registry.worker_id(str(queues))
        self.store = store
        self.queues = queues
        self.options = options
        self.workers = [
            Worker(
                store, queues, opts, self.id if i == 0 else f"{self.id}#{i + 1}", owns_process=False
            )
            for i in range(threads)
        ]
        self.wakeup = Wakeup()
        self.stopping = False
        self.stopping_now = False

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
        log.warning("worker %s: USR1 cannot interrupt jobs running in threads", self.id)

    def reopen_logs(self) -> None:
        logs.reopen()

    # -- the process ---------------------------------------------------------------------

    def work(self) -> int:
        install_signals(self, self.wakeup, self.options.parent_pid)
        proctitle.worker("Starting")
        hooks.run_worker_hooks("before_first_fork")
        heartbeat = Heartbeat(self.store, [w.id for w in self.workers]).start()
        threads = [
            threading.Thread(target=w.work, name=f"job-{i + 1}", daemon=True)
            for i, w in enumerate(self.workers)
        ]
        for t in threads:
            t.start()
        log.info("worker %s started with %d threads", self.id, len(threads))
        kill_at = 0.0
        try:
            while any(t.is_alive() for t in threads):
                if self.stopping_now and not kill_at:
                    kill_at = time.monotonic() + self.options.term_timeout
                if kill_at and time.monotonic() >= kill_at:
                    log.warning("worker %s: jobs still running after TERM; leaving", self.id)
                    break
                if self._parent_gone() and not self.stopping:
                    self.stop(graceful=True)
                timeout = max(0.05, kill_at - time.monotonic()) if kill_at else 1.0
                self.wakeup.wait(timeout)
        finally:
            heartbeat.stop()
            for w, t in zip(self.workers, threads, strict=True):
                if t.is_alive():  # a job still running in a thread after TERM is failed, not lost
                    try:
                        registry.unregister(
                            self.store, w.id, failure.DIRTY_EXIT, "Worker killed by TERM"
                        )
                    except redis.RedisError as exc:
                        log.error("worker %s: could not unregister: %s", w.id, exc)
            hooks.run_worker_hooks("worker_exit")
            log.info("worker %s exiting", self.id)
        if any(t.is_alive() for t in threads):
            os._exit(1)
        return 0

    def _parent_gone(self) -> bool:
        parent = self.options.parent_pid
        return bool(parent) and os.getppid() != parent
