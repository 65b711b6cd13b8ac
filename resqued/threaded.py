"""Threads per process (Action Verb's hybrid model): one process, THREAD_COUNT job threads.

Each thread is a Resque worker of its own in Redis, with an id whose pid is
the process's (so Ruby's prune sees a live worker): ``host:pid:queues`` for
the first thread and ``host:pid:queues#N`` for the others.  Jobs run in
process; the main thread only handles signals.  Combined with
``jobs_per_fork`` the process is replaced after that many jobs.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import signal
import threading
import time

from resqued import hooks, logs, proctitle
from resqued.proc import set_parent_death_signal, signal_name
from resqued.resque import failure, registry
from resqued.resque.queues import QueueList
from resqued.resque.store import Store
from resqued.wakeup import Wakeup
from resqued.worker import SIGNALS, Worker, WorkerOptions

log = logging.getLogger("resqued")


class ThreadedWorker:
    def __init__(self, store: Store, queues: QueueList, options: WorkerOptions, threads: int):
        per_thread = math.ceil(options.jobs_per_fork / threads) if options.jobs_per_fork else 0
        opts = dataclasses.replace(options, fork_per_job=False, jobs_per_fork=per_thread)
        base = registry.worker_id(str(queues))
        self.store = store
        self.opts = options
        self.workers = [
            Worker(store, queues, opts, base if i == 0 else f"{base}#{i + 1}")
            for i in range(threads)
        ]
        self.id = base
        self.wakeup = Wakeup()

    def _wake_all(self) -> None:
        for w in self.workers:
            assert w.wakeup is not None
            w.wakeup.poke()

    def _handle(self, signum: int) -> None:
        name = signal_name(signum)[3:]
        for w in self.workers:
            if name in ("TERM", "INT"):
                w.shutdown = w.shutdown_now = True
            elif name == "QUIT":
                w.shutdown = True
            elif name == "USR2":
                w.paused = True
            elif name == "CONT":
                w.paused = False
        if name == "HUP":
            logs.reopen()
        if name == "USR1":
            log.warning("worker %s: USR1 cannot interrupt jobs running in threads", self.id)
        self._wake_all()

    def work(self) -> int:
        self.wakeup.catch(SIGNALS)
        if self.opts.parent_pid:
            set_parent_death_signal(signal.SIGQUIT)
        for w in self.workers:
            w.wakeup = Wakeup()
        proctitle.worker("Starting")
        first = self.workers[0]
        for w in self.workers:
            w._with_redis(w._startup)
        hooks.run_worker_hooks("before_first_fork")
        first._start_heartbeat(ids=[w.id for w in self.workers])
        threads = [
            threading.Thread(target=w._loop, name=f"job-{i + 1}", daemon=True)
            for i, w in enumerate(self.workers)
        ]
        for t in threads:
            t.start()
        log.info("worker %s started with %d threads", self.id, len(threads))
        kill_at = 0.0
        try:
            while any(t.is_alive() for t in threads):
                while self.wakeup.queued:
                    self._handle(self.wakeup.queued.popleft())
                if first.shutdown_now and not kill_at:
                    kill_at = time.monotonic() + self.opts.term_timeout
                if kill_at and time.monotonic() >= kill_at:
                    log.warning("worker %s: jobs still running after TERM; leaving", self.id)
                    break
                if first._parent_gone() and not first.shutdown:
                    self._handle(signal.SIGQUIT)
                timeout = max(0.05, kill_at - time.monotonic()) if kill_at else 1.0
                self.wakeup.wait(timeout)
                for t in threads:
                    t.join(0)
        finally:
            first._stop_heartbeat.set()
            for w in self.workers:
                # a job still running in a thread after TERM is failed, never lost
                w._with_redis(
                    lambda w=w: registry.unregister(
                        self.store, w.id, failure.DIRTY_EXIT, "Worker killed by TERM"
                    ),
                    give_up_on_shutdown=True,
                )
            hooks.run_worker_hooks("worker_exit")
            log.info("worker %s exiting", self.id)
        if kill_at and any(t.is_alive() for t in threads):
            os._exit(1)
        return 0
