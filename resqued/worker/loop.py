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

from resqued import hooks, jobs, proctitle
from resqued.resque import failure, payload, registry, times
from resqued.resque.payload import Job, MalformedPayload
from resqued.resque.queues import QueueList
from resqued.resque.script_call import ScriptCall, bulk
from resqued.resque.scripts import RESERVE
from resqued.resque.store import Store
from resqued.worker.budget import JobBudget
from resqued.worker.control import Control
from resqued.worker.idle_wait import MIN_POLL, IdleWait
from resqued.worker.limits import BadLimit, ClassLimits, TimeLimits
from resqued.worker.options import WorkerOptions
from resqued.worker.outcome import Outcome
from resqued.worker.retry import GaveUp, RedisRetry

log = logging.getLogger("resqued")

RunJob = Callable[[Job, type], Outcome]


class Reserver:
    """Builds the RESERVE call and keeps the outcome it has yet to record.

    The call goes out on the worker's own connection (``ScriptCall``), packed
    from pieces made once: the constant arguments at start, ``run_at`` once a
    second, the hand-over queues when their list grows.
    """

    def __init__(
        self, store: Store, queues: QueueList, worker_id: str, pause_key: str, handover: list[str]
    ) -> None:
        self.store = store
        self.handover = handover  # the idle wait's hand-over queues, claimed first; only grows
        self.finished = 0  # jobs whose outcome is recorded: mirrors stat:processed:<id>
        self.pending: bytes | None = None  # the last job's outcome, recorded by the next call
        self.script = ScriptCall(store, RESERVE)
        self._ns_worker = _packed(store.keys.prefix, store.keys.worker(worker_id))
        self._pause = _packed(pause_key)
        self._id = _packed(worker_id)
        queue_args = queues.script_args()
        self._queues = _packed(*queue_args)
        self._nargs = 9 + len(queue_args)  # plus one a hand-over queue
        self._second = -1  # run_at has a resolution of one second: made once a second
        self._run_at = b""
        self._nclaims = -1
        self._claims = b""

    def call(self, reserve: bool = True) -> list[bytes]:
        """One round trip: record the pending outcome (if any), then reserve the next job."""
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._run_at = bulk(times.run_at(second).encode())
        handover = self.handover
        if len(handover) != self._nclaims:
            self._nclaims = len(handover)
            self._claims = _packed(str(len(handover)), *handover)
        pending = self.pending
        if pending is not None:
            outcome = bulk(b"%d" % self.finished) + bulk(pending)
        else:
            outcome = NO_OUTCOME
        result: list[bytes] = self.script(
            self._nargs + self._nclaims,
            (
                self._ns_worker,
                self._run_at,
                self._pause,
                outcome,
                RESERVE_FLAG if reserve else FINISH_FLAG,
                self._id,
                self._claims,
                self._queues,
            ),
        )
        if pending is not None:
            self.pending = None
            self.finished += 1
        return result

    def finish_only(self) -> list[bytes]:
        return self.call(reserve=False)

    def close(self) -> None:
        self.script.close()


NO_OUTCOME = bulk(b"") + bulk(b"")
RESERVE_FLAG, FINISH_FLAG = bulk(b"1"), bulk(b"0")


def _packed(*args: str) -> bytes:
    return b"".join(bulk(a.encode()) for a in args)


class JobLoop:
    def __init__(
        self,
        owner: object,
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
        self.owner = owner  # what before_pause/after_pause hooks are given: the worker
        self.control = control
        self.store = store
        self.queues = queues
        self.id = worker_id
        self.options = options
        self.retry = retry
        self.idle = idle
        self.run_job = run_job
        self.reserver = Reserver(store, queues, worker_id, options.pause_key, idle.handover)
        self.budget = budget  # jobs_per_fork, shared by every worker of the process
        self.reregister = reregister  # the reserve found this worker missing from the registry
        self.board = control.board  # the listener's view of this worker (None: standalone)
        self.thread = control.thread
        self.limits = ClassLimits(options.job_timeout, options.job_soft_timeout)
        self.waiting = f"Waiting for {queues}{options.limits_tag}"
        self.debug = False

    def run(self) -> None:
        self.debug = log.isEnabledFor(logging.DEBUG)  # one line per job with -v; else no work
        try:
            self._jobs()
        finally:
            try:
                self.flush()
            finally:
                self.reserver.close()

    def flush(self) -> None:
        """Record a pending outcome without reserving (on the way out)."""
        if self.reserver.pending is not None:
            self.retry.call(self.reserver.finish_only)

    def _jobs(self) -> None:
        control, opts = self.control, self.options
        while not control.stopping:
            if control.logs_to_reopen:
                control.reopen_logs_now()
            if self.parent_gone():
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
            else:
                self._state("waiting")
                hooks.run_worker_hooks("queue_empty")
                proctitle.worker(self.waiting)
                self.idle.wait([q.decode(errors="replace") for q in result[1:]])

    def parent_gone(self) -> bool:
        parent = self.options.parent_pid
        return bool(parent) and os.getppid() != parent

    def _pause(self) -> None:
        # Record the last job's outcome and give back any job a wait took, before idling.
        control = self.control
        self.flush()
        self.retry.call(lambda: registry.requeue_handed_over(self.store, self.id))
        hooks.run_worker_hooks("before_pause", self.owner)
        self._state("paused")
        proctitle.worker("Paused")
        log.info("worker %s paused", self.id)
        while control.paused and not control.stopping and not self.parent_gone():
            control.sleep(max(self.options.interval, MIN_POLL))
        hooks.run_worker_hooks("after_pause", self.owner)
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

    def _count_unstarted(self, job: Job) -> None:
        """A job that could not start counts in the statistics too, as failed."""
        if self.board is not None:
            self.board.count(job.queue, job.class_name or "(malformed payload)", False, 0.0)

    def finish(
        self, job: Job, outcome: Outcome, shown_payload: dict[str, object] | None = None
    ) -> None:
        """Make the outcome pending: the next reserve records it in the same round trip."""
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
