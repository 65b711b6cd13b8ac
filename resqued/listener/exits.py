"""A worker's end, as the listener handles it: the after_exit summary, a dead worker's cleanup.

A worker that could not clean up after itself (killed, crashed) is unregistered
here: its in-flight job goes to ``failed`` (with the guard rails' reason when
they killed it), its hand-over lists back to their queues; a cleanup a Redis
outage stops is tried again with the same reason.  ``prune`` does the
same for dead workers the listener did not start (under Resque's prune lock), in
a process of its own (``pruner.py``).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

import redis

from resqued import jobs
from resqued.listener import compat
from resqued.process.backoff import Backoff
from resqued.resque import outage, registry
from resqued.resque.prune import prune_dead_workers
from resqued.resque.store import Store

log = logging.getLogger("resqued")


@dataclass
class ExitSummary:
    """What ``after_exit`` hooks receive about a worker that exited (like Ruby resqued's)."""

    pid: int
    status: int  # the wait status
    exit_code: int | None
    signal: int | None
    alive_time_sec: float
    queues: str
    reason: str

    @classmethod
    def of(cls, pid: int, status: int, lived: float, queues: str, reason: str) -> ExitSummary:
        return cls(
            pid,
            status,
            os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            lived,
            queues,
            reason,
        )

    @property
    def process_status(self) -> compat.ProcessStatus:
        """Ruby resqued's ``worker_summary.process_status`` (a Process::Status)."""
        return compat.ProcessStatus(self.pid, self.status)


@dataclass
class Cleanup:
    """A dead worker's cleanup that a Redis outage stopped (it refused writes, or did not
    answer): tried again with the same reason until it is done (``retry``)."""

    pid: int
    ids: dict[str, tuple[str, str, Any]]  # its worker ids still registered, and their reason
    unstarted: dict[str, int] = field(default_factory=dict)  # see ``unregister_dead``
    backoff: Backoff = field(default_factory=lambda: Backoff(0.5, 10.0))
    next_try: float = 0.0

    def retry(self, store: Store, now: float) -> bool:
        """One more try, when due; True once every id is unregistered."""
        if now < self.next_try:
            return False
        self.ids = _unregister(store, self.ids, self.unstarted, quiet=True)
        if self.ids:
            self.next_try = now + self.backoff.failed()
            return False
        log.warning("unregistered dead worker %d once Redis took writes again", self.pid)
        return True


def unregister_dead(
    store: Store,
    pid: int,
    queues: str,
    whys: list[tuple[str, str, Any]],
    unstarted: list[int | None] | None = None,
) -> Cleanup | None:
    """Fail the in-flight job(s) of a worker that could not clean up; requeue its hand-overs.

    ``whys``: for each of its threads, the exception name, message and failure hook to
    record its job with.  ``unstarted``: for each thread that ran no job when it died,
    the jobs it finished (its scoreboard's count): a job in its ``worker:<id>`` while
    Redis counts as many recorded was reserved and never started (a RESERVE whose reply
    was lost), and goes back to its queue (``registry.requeue_unstarted``).  What a
    Redis outage stopped is returned, for the listener to try again with those reasons
    (a prune would record the jobs as dirty exits): None when all is done.
    """
    base = registry.worker_id(queues, pid)
    ids = {base if n == 0 else f"{base}#{n + 1}": why for n, why in enumerate(whys)}
    counts = {wid: c for wid, c in zip(ids, unstarted or [], strict=False) if c is not None}
    left = _unregister(store, ids, counts)
    if not left:
        return None
    cleanup = Cleanup(pid, left, {w: c for w, c in counts.items() if w in left})
    cleanup.next_try = time.monotonic() + cleanup.backoff.failed()
    return cleanup


def _unregister(
    store: Store,
    ids: dict[str, tuple[str, str, Any]],
    unstarted: dict[str, int],
    quiet: bool = False,
) -> dict[str, tuple[str, str, Any]]:
    """Unregister each id; those an outage stopped (each logged once, unless ``quiet``)."""
    left = {}
    for wid, (exception, error, hook) in ids.items():
        try:
            if wid in unstarted:
                registry.requeue_unstarted(store, wid, unstarted[wid])
            registry.unregister(store, wid, exception, error, dead_job_hook=hook)
        except (redis.RedisError, OSError) as exc:
            if isinstance(exc, redis.RedisError) and outage.is_outage(exc):
                left[wid] = (exception, error, hook)
                if quiet:
                    continue
            log.error("could not unregister dead worker %s: %s", wid, exc)
    return left


def prune(store: Store, number: int, mine: frozenset[int] = frozenset()) -> None:
    """Unregister dead workers (their jobs to ``failed``), under Resque's prune lock.

    ``mine``: pids of the listener's own workers, which the listener itself
    unregisters when it reaps them (with the guard rails' reason, if they killed one).
    """
    try:
        prune_dead_workers(
            store,
            f"{registry.hostname()}:{os.getppid()}:listener",
            jobs.run_failure_hooks,
            spare=mine,
        )
    except (redis.RedisError, OSError, RuntimeError) as exc:
        log.warning("listener #%d: could not prune dead workers: %s", number, exc)
