"""A worker's end, as the listener handles it: the after_exit summary, a dead worker's cleanup.

A worker that could not clean up after itself (killed, crashed) is unregistered
here: its in-flight job goes to ``failed`` (with the guard rails' reason when
they killed it), its hand-over lists back to their queues.  ``prune`` does the
same for dead workers the listener did not start (under Resque's prune lock), in
a process of its own (``pruner.py``).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import redis

from resqued import jobs
from resqued.listener import compat
from resqued.resque import registry
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


def unregister_dead(
    store: Store, pid: int, queues: str, threads: int, why: tuple[str, str, Any]
) -> None:
    """Fail the in-flight job(s) of a worker that could not clean up; requeue its hand-overs.

    ``why``: the exception name, message and failure hook to record its job with.
    """
    exception, error, hook = why
    base = registry.worker_id(queues, pid)
    for n in range(1, threads + 1):
        wid = base if n == 1 else f"{base}#{n}"
        try:
            registry.unregister(store, wid, exception, error, dead_job_hook=hook)
        except (redis.RedisError, OSError) as exc:
            log.error("could not unregister dead worker %s: %s", wid, exc)


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
