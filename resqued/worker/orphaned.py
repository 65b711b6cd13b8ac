"""A worker whose listener died holds the hard memory limit itself, by the listener's rule.

The listener measures its workers' memory (``listener/watch.py``).  A listener
that is killed leaves its workers to finish their jobs (their parent-death
signal is ``QUIT``) with nobody measuring them, and the master's next listener
does not watch them either.  So such a worker measures itself, once a second
until it exits: the PSS of the worker and of its job child
(``process/memory.py``), against ``memory_limit``.  Above it, the job is
killed and recorded as ``resqued.MemoryLimitExceeded`` with the listener's
message: in fork mode the worker kills its job child (``job_child.py``) and
goes on recording as for the listener's request; in process and threads a job
cannot be killed alone, so the process records every job it runs and kills
itself, as the listener would have killed it.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable

import redis

from resqued.process.memory import worker_memory
from resqued.resque import registry
from resqued.resque.store import Store
from resqued.worker.limits import MemoryLimitExceeded, failure_hook
from resqued.worker.options import WorkerOptions, size

log = logging.getLogger("resqued")

EXCEPTION = "resqued.MemoryLimitExceeded"


def watching(options: WorkerOptions) -> bool:
    """The worker holds its own hard memory limit: one is set and its listener is gone."""
    parent = options.parent_pid
    return bool(options.memory_limit and parent) and os.getppid() != parent


def above_limit(limit: int, worker: int, child: int = 0) -> str | None:
    """The failure's message when ``worker`` (and its job child) use more than ``limit``."""
    used = worker_memory(worker, child)
    if used is None or used <= limit:
        return None
    what = f"{size(used)} (PSS), above the hard memory limit of {size(limit)}"
    if child:
        return f"job killed: its worker and job child used {what}"
    return f"job killed: its worker used {what}; the worker process was killed"


def fail_and_die(store: Store, ids: list[str], message: str) -> None:
    """In process or threads: record each id's job as the listener would, then KILL us.

    What Redis does not take now is left to a prune (``Resque::DirtyExit``): the
    limit is held first, the record second.
    """
    log.warning("worker %s: memory hard (its listener is gone): %s", ids[0], message)
    for wid in ids:
        try:
            registry.unregister(store, wid, EXCEPTION, message, failure_hook(MemoryLimitExceeded))
        except (redis.RedisError, OSError) as exc:
            log.error("worker %s: could not record its job: %s", wid, exc)
    os.kill(os.getpid(), signal.SIGKILL)


class SelfWatch(threading.Thread):
    """In process: a thread that, once the listener is gone, measures the worker every
    second and ends it above the hard limit (the job holds the main thread)."""

    def __init__(self, options: WorkerOptions, die: Callable[[str], None]) -> None:
        super().__init__(name="memory-watch", daemon=True)
        self.options, self.die = options, die
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(1.0):
            if watching(self.options):
                message = above_limit(self.options.memory_limit, os.getpid())
                if message is not None:
                    self.die(message)
                    return
