"""The reserve loop: one Redis round trip per job, outcomes recorded by the next reserve.

The RESERVE script (``resqued/resque/scripts.py``) records the previous job's
outcome, checks the pause flags (and, when the worker's count is gone, that it
is still registered), expands queue patterns and pops the next job into
``worker:<id>`` in one atomic step.  A job's outcome therefore stays *pending*
until the next call; ``flush`` records it on the way out.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable

from resqued import hooks, jobs
from resqued.process import proctitle
from resqued.resque import failure, payload, registry
from resqued.resque.attempts import Attempts
from resqued.resque.payload import Job, MalformedPayload
from resqued.resque.queues import QueueList
from resqued.resque.store import Store
from resqued.worker.budget import JobBudget
from resqued.worker.control import Control
from resqued.worker.idle_wait import MIN_POLL, IdleWait
from resqued.worker.limits import BadLimit, ClassLimits, TimeLimits
from resqued.worker.options import WorkerOptions
from resqued.worker.outcome import Outcome
from resqued.worker.reserve import Reserver
from resqued.worker.retry import GaveUp, RedisRetry
from resqued.worker.retrying import Retrying, Run

log = logging.getLogger("resqued")

RunJob = Callable[[Job, type], Outcome]


class JobLoop:
    def __init__(
        self,
        control: Control,
        store: Store,
        queues: QueueList,
        worker_id: str,
        options: WorkerOptions,
        retry: RedisRetry,
        idle: IdleWait,
        run_job: RunJob,
        reregister: Callable[[], None],
        budget: JobBudget | None = None,
    ) -> None:
        self.control = control  # the worker (what before_pause/after_pause hooks are given)
        self.store = store
        self.queues = queues
        self.id = worker_id
        self.options = options
        self.retry = retry
        self.idle = idle
        self.run_job = run_job
        self.reserver = Reserver(store, queues, worker_id, options.pause_key, idle.handover)
        idle.use(self.reserver.script)  # one connection for the reserve and the idle wait
        self.budget = budget  # jobs_per_fork, shared by every worker of the process
        self.reregister = reregister  # the reserve found this worker missing from the registry
        self.board = control.board  # the listener's view of this worker (None: standalone)
        self.thread = control.thread
        self.limits = ClassLimits(options.job_timeout, options.job_soft_timeout)
        self.retrying = Retrying(Attempts(store), worker_id)
        self.run_in_hand: Run | None = None  # the job in hand is retried: its counted run
        self.waiting = f"Waiting for {queues}{options.limits_tag}"
        self.debug = False
        self._parent_checked = -1  # the second parent_gone_lately last asked in

    def run(self) -> None:
        self.debug = log.isEnabledFor(logging.DEBUG)  # one line per job with -v; else no work
        try:
            self._jobs()
        finally:
            try:
                # No job any more: recording the last outcome and unregistering wait on
                # Redis as long as it takes, and the stuck timeout leaves a stopping worker be.
                self._state("stopping")
                self.flush()
            finally:
                self.reserver.close()

    def flush(self) -> None:
        """Record a pending outcome without reserving (on the way out)."""
        if self.reserver.pending is not None:
            # In a hurry (a threaded process ending a job past its hard limit), an outcome
            # Redis will not take is left in worker:<id>, for the listener to record.
            self.retry.call(self.reserver.finish_only, give_up_on_stop=self.control.hurry)

    def _jobs(self) -> None:
        control, opts = self.control, self.options
        while not control.stopping:
            if control.logs_to_reopen:
                control.reopen_logs_now()
            if self.parent_gone_lately():
                log.warning("worker %s: parent %d is gone, exiting", self.id, opts.parent_pid)
                break
            if control.paused:
                self._pause()
                continue
            budget = self.budget
            if budget is not None and not budget.take():
                break
            result = self.retry.call(self.reserver.call, give_up_on_stop=True)
            if isinstance(result, GaveUp):
                if budget is not None:
                    budget.give_back()
                break
            kind = result[0]
            if kind in (b"job", b"resume"):
                if budget is not None:
                    budget.used_one()
                self._process(_job_from(result))
                continue
            if budget is not None:
                budget.give_back()
            if kind == b"unregistered":
                self.retry.call(self.reregister)
            elif kind == b"paused":
                self._state("paused")
                proctitle.worker("Paused")
                control.sleep(max(min(opts.interval, 1.0), MIN_POLL))
            elif opts.burst:  # Resque's INTERVAL=0, RQ's --burst: done when nothing is left
                log.info("worker %s: queues empty, exiting (burst)", self.id)
                break
            else:
                self._state("waiting")
                hooks.run_worker_hooks("queue_empty")
                proctitle.worker(self.waiting)
                self.idle.wait([q.decode(errors="replace") for q in result[1:]])

    def parent_gone(self) -> bool:
        parent = self.options.parent_pid
        return bool(parent) and os.getppid() != parent

    def parent_gone_lately(self) -> bool:
        """``parent_gone``, asked at most once a second (``getppid`` is a system call).

        The parent's death normally reaches the worker as SIGQUIT (the parent-death
        signal); this is the fallback for a parent that died before it was set.
        """
        second = int(time.monotonic())
        if second == self._parent_checked:
            return False
        self._parent_checked = second
        return self.parent_gone()

    def _pause(self) -> None:
        # Record the last job's outcome and give back any job a wait took, before idling.
        control = self.control
        self.flush()
        self.retry.call(lambda: registry.requeue_handed_over(self.store, self.id, forget=False))
        hooks.run_worker_hooks("before_pause", self.control)
        self._state("paused")
        proctitle.worker("Paused")
        log.info("worker %s paused", self.id)
        while control.paused and not control.stopping and not self.parent_gone():
            control.sleep(max(self.options.interval, MIN_POLL))
        hooks.run_worker_hooks("after_pause", self.control)
        log.info("worker %s resumed", self.id)

    def _state(self, state: str) -> None:
        """Show the listener what this worker does now; publish its statistics when it idles."""
        board = self.board
        if board is not None:
            board.beat(self.thread, state)
            board.publish()

    def _process(self, job: Job) -> None:
        debug = self.debug
        started = time.monotonic() if debug else 0.0
        try:
            job = payload.decode(job.queue, job.raw) if not job.payload else job
            cls = jobs.resolve(job.class_name)
            limits = self.limits.of(cls)
        except MalformedPayload as exc:
            outcome = Outcome("resqued.MalformedPayload", str(exc), [])
            self.finish(job, outcome, payload.malformed_stand_in(job.raw))
            self._count_unstarted(job)
        except (jobs.UnknownJobClass, BadLimit) as exc:
            unknown = isinstance(exc, jobs.UnknownJobClass)
            outcome = Outcome("resqued.UnknownJobClass" if unknown else "ValueError", str(exc), [])
            self.finish(job, outcome)
            self._count_unstarted(job)
        else:
            self.run_in_hand = self._begin(job, cls)
            outcome = self._perform(job, cls, limits)
            self.finish(job, outcome)
        if debug:
            log.debug(
                "worker %s: %s on %s %s in %.3fs",
                self.id,
                job.class_name or "(malformed payload)",
                job.queue,
                "failed" if outcome.exception else "done",
                time.monotonic() - started,
            )

    def _perform(self, job: Job, cls: type, limits: TimeLimits) -> Outcome:
        board = self.board
        begun = 0.0
        if board is not None:
            begun = board.job_started(job.queue, job.class_name, limits.hard, self.thread)
        self.control.job_started(job, limits, begun)
        try:
            outcome = self.run_job(job, cls)
        finally:
            self.control.job_ended()
        if board is not None:
            board.job_finished(outcome.exception is None, self.thread)
        return outcome

    def _begin(self, job: Job, cls: type) -> Run | None:
        """Count the run of a class with ``retry=`` in its attempt key (None: no retries)."""
        if getattr(cls, "resqued_retry", None) is None:
            return None
        run = self.retry.call(lambda: self.retrying.begin(job, cls))
        return None if isinstance(run, GaveUp) else run

    def _count_unstarted(self, job: Job) -> None:
        """A job that could not start counts in the statistics too, as failed."""
        if self.board is not None:
            self.board.count(job.queue, job.class_name or "(malformed payload)", False, 0.0)

    def finish(
        self, job: Job, outcome: Outcome, shown_payload: dict[str, object] | None = None
    ) -> None:
        """Make the outcome pending: the next reserve records it in the same round trip.

        A retried job's outcome is recorded now instead, with its retry (``retrying.py``).
        """
        run, self.run_in_hand = self.run_in_hand, None
        if run is not None:
            self._finish_retried(run, job, outcome)
            return
        self.reserver.pending = b""
        if outcome.exception:
            self.reserver.pending = failure.record(
                shown_payload or job.payload,
                outcome.exception,
                outcome.error,
                outcome.backtrace or [],
                self.id,
                job.queue,
                raw=job.raw,
            )
            error = outcome.error.strip().partition("\n")[0][:500]
            log.warning(
                "worker %s: job %s on %s failed: %s%s",
                self.id,
                job.class_name or "(malformed payload)",
                job.queue,
                outcome.exception,
                f": {error}" if error else "",
            )

    def _finish_retried(self, run: Run, job: Job, outcome: Outcome) -> None:
        if outcome.exception:
            error = outcome.error.strip().partition("\n")[0][:500]
            log.warning(
                "worker %s: job %s on %s failed (attempt %d): %s%s",
                self.id,
                job.class_name,
                job.queue,
                run.attempt + 1,
                outcome.exception,
                f": {error}" if error else "",
            )
        reserver = self.reserver
        done = self.retry.call(lambda: self.retrying.finish(run, job, outcome, reserver.finished))
        if not isinstance(done, GaveUp):
            reserver.finished += 1

    def record_orphaned(self, job: Job, outcome: Outcome) -> None:
        """In a job child whose worker died: record the outcome from here."""
        self.finish(job, outcome)
        self.reserver.finish_only()


def _job_from(result: list[bytes]) -> Job:
    if result[0] == b"resume":  # our reserve's reply was lost: the job is ours already
        try:
            doc = json.loads(result[1])
            queue, body = str(doc.get("queue") or ""), doc.get("payload")
            return Job(queue, payload.dumps(body), body if isinstance(body, dict) else {})
        except (ValueError, RecursionError, AttributeError):  # fails as MalformedPayload
            return Job("", result[1])
    return Job(result[1].decode(errors="replace"), result[2])
