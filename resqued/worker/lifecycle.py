"""One Resque worker from start to exit: register, hooks, heartbeat, the job loop, unregister.

A ``Worker`` that owns its process (the default) installs the signal
handlers and runs the process-wide worker hooks.  Inside a ``ThreadedWorker``
each thread's worker leaves those to the process, shares the process's
``jobs_per_fork`` budget, and only registers, works and unregisters.

A worker its listener watches writes its scoreboard (``board``): heartbeat,
state, current job, statistics; the listener keeps the Redis heartbeat
(``workers:heartbeat``) for it.  A worker without one (``resqued work``, or
one a ``worker_factory`` built) runs the heartbeat thread itself.
"""

from __future__ import annotations

import logging

from resqued import hooks, jobs
from resqued.process import proctitle
from resqued.process.wakeup import Wakeup
from resqued.resque import prune, registry
from resqued.resque.payload import Job
from resqued.resque.queues import QueueList
from resqued.resque.store import Store
from resqued.scoreboard import Scoreboard
from resqued.worker import orphaned
from resqued.worker.budget import JobBudget
from resqued.worker.control import Control
from resqued.worker.heartbeat import Heartbeat
from resqued.worker.idle_wait import IdleWait
from resqued.worker.in_process import InProcessJob
from resqued.worker.job_child import ForkedJob
from resqued.worker.loop import JobLoop, RunJob
from resqued.worker.options import WorkerOptions
from resqued.worker.outcome import Outcome
from resqued.worker.retry import GaveUp, RedisRetry
from resqued.worker.signals import install as install_signals

log = logging.getLogger("resqued")


def first_fork_hooks(worker_id: str) -> bool:
    """``before_first_fork`` hooks; False (logged) when one raised: the worker stops."""
    try:
        hooks.run_worker_hooks("before_first_fork")
    except Exception as exc:
        log.error(
            "worker %s: a before_first_fork hook raised %s: %s; the worker stops",
            worker_id,
            type(exc).__name__,
            exc,
        )
        return False
    return True


class Worker(Control):
    def __init__(
        self,
        store: Store,
        queues: QueueList,
        options: WorkerOptions | None = None,
        worker_id: str | None = None,
        *,
        owns_process: bool = True,
        budget: JobBudget | None = None,
        board: Scoreboard | None = None,
        thread: int = 0,
    ) -> None:
        super().__init__(Wakeup())
        self.store = store
        self.queues = queues
        self.options = options or WorkerOptions()
        self.id = worker_id or registry.worker_id(str(queues))
        self.owns_process = owns_process
        self.board, self.thread = board, thread
        self.retry = RedisRetry(store, self)
        self.idle = IdleWait(store, self.id, self, self.retry, self.options.interval)
        run_job: RunJob
        if self.options.fork_per_job:
            run_job = ForkedJob(self, self.options, self._record_orphaned).run
        else:
            run_job = InProcessJob(
                self,
                alarm=owns_process,
                hard_too=board is None,
                watchdog=owns_process and board is not None,
            ).run
        if budget is None and self.options.jobs_per_fork:
            budget = JobBudget(self.options.jobs_per_fork, lambda: recycling(board, budget))
        self.loop = JobLoop(
            self,
            store,
            queues,
            self.id,
            self.options,
            self.retry,
            self.idle,
            run_job,
            self._reregister,
            budget,
        )
        self.started = ""  # the :started stamp of this worker's registration

    def work(self) -> int:
        """Run until told to stop. Returns the process exit status."""
        if self.owns_process:
            install_signals(self, self.wakeup, self.options.parent_pid)
            proctitle.worker("Starting")
        self.beat()  # from now on the listener expects a heartbeat every second or so
        heartbeat: Heartbeat | None = None
        watch = None
        if self.owns_process and not self.options.fork_per_job and self.options.memory_limit:
            watch = orphaned.SelfWatch(self.options, self._over_memory)
            watch.start()  # measures once the listener is gone: the job holds this thread
        try:
            if isinstance(self.retry.call(self._register, give_up_on_stop=True), GaveUp):
                return 0
            if self.owns_process:
                if not first_fork_hooks(self.id):
                    return 1
                if self.board is None:
                    heartbeat = Heartbeat(self.store, [self.id]).start()
            log.info("worker %s started", self.id)
            self.loop.run()
            if self.owns_process and self.stopping:
                hooks.run_worker_hooks("shutdown")
        finally:
            if watch is not None:
                watch.done.set()
            if heartbeat is not None:
                heartbeat.stop()
            if self.board is not None:
                self.board.beat(self.thread, "stopping")
                self.board.publish()
            self.idle.close()
            self.retry.call(self._unregister, give_up_on_stop=True)
            if self.owns_process:
                hooks.run_worker_hooks("worker_exit")
            log.info("worker %s exiting", self.id)
        return 0

    def _register(self) -> None:
        self.started = registry.register(self.store, self.id, jobs.run_failure_hooks)
        if self.options.prune:
            prune.prune_dead_workers(self.store, self.id, jobs.run_failure_hooks)

    def _reregister(self) -> None:
        registry.reregister(self.store, self.id, self.started)
        self.idle.forget_records()  # its hand-over record went with its registration

    def _unregister(self) -> None:
        reserver = self.loop.reserver
        if reserver.pending is None:  # every job it ran is recorded: one left was never started
            registry.requeue_unstarted(self.store, self.id, reserver.finished)
        registry.unregister(self.store, self.id, dead_job_hook=jobs.run_failure_hooks)

    def _over_memory(self, message: str) -> None:
        orphaned.fail_and_die(self.store, [self.id], message)

    def _record_orphaned(self, job: Job, outcome: Outcome) -> None:
        self.loop.record_orphaned(job, outcome)


def recycling(board: Scoreboard | None, budget: JobBudget | None) -> None:
    """The process took its last job: tell the listener why it will exit."""
    if board is not None and budget is not None:
        board.exiting(f"recycled after {budget.limit} jobs")
