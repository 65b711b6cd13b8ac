"""Retrying a job class's failed runs (``Retry``): count each run, then queue it again or fail it.

Before a run of a class with ``retry=``, one call counts it in resque-retry's
attempt key (``resqued/resque/attempts.py``); after it, one call records the
outcome and does the retry's bookkeeping in the same step, instead of leaving
the outcome to the next reserve.  So a class without ``retry=`` costs nothing
more, and one with it two round trips a run.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from resqued.resque import delayed, failure, payload, retry, times
from resqued.resque.attempts import Attempts, Requeue
from resqued.resque.payload import Job
from resqued.resque.retry import Retry
from resqued.worker.outcome import Outcome

log = logging.getLogger("resqued")


@dataclass(frozen=True)
class Run:
    """One counted run of a retried job: its settings, its attempt key and number."""

    policy: Retry
    key: str  # resque-retry:<class>:<identifier>, before the namespace
    attempt: int  # 0: the first run
    queue: str  # where a retry goes: the class's queue, else the one it came from


def attempt_key_of(job: Job, cls: type) -> str | None:
    """The job's attempt key; None (and a line) when the class's own identifier raised."""
    try:
        return retry.attempt_key(job.class_name, retry.identifier_for(cls, job.args))
    except Exception as exc:
        log.warning("%s: retry_identifier failed (%s): the job is not retried", job.class_name, exc)
        return None


def class_queue(cls: type, job: Job) -> str:
    queue = getattr(cls, "queue", None) or getattr(cls, "_queue", None)
    return str(queue) if queue else job.queue


def requeue_for(run: Run, job: Job, now: float) -> tuple[Requeue, int]:
    """Where the failed run goes to run again, and its delay in seconds."""
    delay = run.policy.delay_for(run.attempt)
    if delay <= 0:
        return Requeue(run.queue, 0, payload.encode(job.class_name, job.args), 0), 0
    epoch = math.floor(now + delay)
    item = delayed.entry(job.class_name, job.args, run.queue)
    return Requeue(run.queue, epoch, item, 2 * delay), delay


def kept_failure(job: Job, outcome: Outcome, worker_id: str, now: float) -> bytes:
    """The record resque-retry keeps in ``failure-resque-retry:...`` (local time, no zone)."""
    doc = {
        "failed_at": times.local_failed_at(now),
        "payload": job.payload,
        "exception": outcome.exception,
        "error": outcome.error,
        "backtrace": outcome.backtrace or [],
        "worker": worker_id,
        "queue": job.queue,
    }
    return payload.dumps(doc)


def final_failure(job: Job, outcome: Outcome, worker_id: str, attempt: int) -> bytes:
    """The one record in ``failed``: Resque's fields, then ``retry_attempt`` (retries made)."""
    base = failure.record(
        job.payload,
        outcome.exception or "",
        outcome.error,
        outcome.backtrace or [],
        worker_id,
        job.queue,
        raw=job.raw,
    )
    return base[:-1] + b',"retry_attempt":' + str(max(attempt, 0)).encode() + b"}"


class Retrying:
    """A worker's handle on its retried jobs (one per job loop)."""

    def __init__(self, attempts: Attempts, worker_id: str) -> None:
        self.attempts = attempts
        self.id = worker_id

    def begin(self, job: Job, cls: type) -> Run | None:
        """Count the run of a class with ``retry=`` (None: the class has none)."""
        policy = retry.policy_of(cls)
        if policy is None:
            return None
        key = attempt_key_of(job, cls)
        if key is None:
            return None
        attempt = self.attempts.begin(
            key, policy.expire_key_after, policy.max_factor(), policy.delays()
        )
        return Run(policy, key, attempt, class_queue(cls, job))

    def finish(self, run: Run, job: Job, outcome: Outcome, finished: int) -> None:
        """Record the run's outcome and its retry in one step (``Attempts.finish``)."""
        if outcome.exception is None:
            self.attempts.finish(self.id, finished, run.key, None)
            return
        now = time.time()
        policy = run.policy
        if outcome.retryable and not policy.limit_reached(run.attempt):
            requeue, delay = requeue_for(run, job, now)
            record = kept_failure(job, outcome, self.id, now)
            if self.attempts.finish(self.id, finished, run.key, record, requeue):
                limit = policy.retry_limit
                of = f" of {limit}" if limit > 0 else ""
                when = f"in {delay}s" if delay else "now"
                log.info(
                    "worker %s: %s retry %d%s %s on %s",
                    self.id,
                    job.class_name,
                    run.attempt + 1,
                    of,
                    when,
                    run.queue,
                )
            return
        record = final_failure(job, outcome, self.id, run.attempt)
        self.attempts.finish(self.id, finished, run.key, record)
