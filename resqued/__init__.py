"""resqued: a unicorn-style process manager for Resque-compatible Redis jobs.

Producers::

    import resqued

    @resqued.job("Archive")
    class Archive:
        queue = "file_serve"

        @staticmethod
        def perform(repo_id, branch="master"):
            ...

    resqued.enqueue(Archive, 35, "tar")

The names below are imported on first use, so that ``import resqued`` (which
every ``resqued`` command does first) costs nothing: the command line sets its
process title before redis-py or anything else is loaded.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from resqued.version import __version__

if TYPE_CHECKING:
    from resqued.hooks import worker_hook
    from resqued.job_hooks import DontPerform
    from resqued.jobs import UnknownJobClass, allow_module, job
    from resqued.producer import (
        connect,
        delayed_count,
        dequeue,
        enqueue,
        enqueue_at,
        enqueue_at_to,
        enqueue_at_with_queue,
        enqueue_in,
        enqueue_in_to,
        enqueue_in_with_queue,
        enqueue_to,
        remove_delayed,
        remove_delayed_in_queue,
        scheduled_at,
    )
    from resqued.resque.retry import Retry
    from resqued.worker.limits import JobTimeout, MemoryLimitExceeded, SoftTimeout, WorkerStuck

_PUBLIC = {
    "DontPerform": "resqued.job_hooks",
    "JobTimeout": "resqued.worker.limits",
    "MemoryLimitExceeded": "resqued.worker.limits",
    "Retry": "resqued.resque.retry",
    "SoftTimeout": "resqued.worker.limits",
    "WorkerStuck": "resqued.worker.limits",
    "UnknownJobClass": "resqued.jobs",
    "allow_module": "resqued.jobs",
    "connect": "resqued.producer",
    "dequeue": "resqued.producer",
    "enqueue": "resqued.producer",
    "enqueue_to": "resqued.producer",
    "delayed_count": "resqued.producer",
    "enqueue_at": "resqued.producer",
    "enqueue_at_to": "resqued.producer",
    "enqueue_at_with_queue": "resqued.producer",
    "enqueue_in": "resqued.producer",
    "enqueue_in_to": "resqued.producer",
    "enqueue_in_with_queue": "resqued.producer",
    "remove_delayed": "resqued.producer",
    "remove_delayed_in_queue": "resqued.producer",
    "scheduled_at": "resqued.producer",
    "job": "resqued.jobs",
    "worker_hook": "resqued.hooks",
}

__all__ = [
    "DontPerform",
    "JobTimeout",
    "MemoryLimitExceeded",
    "Retry",
    "SoftTimeout",
    "UnknownJobClass",
    "WorkerStuck",
    "__version__",
    "allow_module",
    "connect",
    "delayed_count",
    "dequeue",
    "enqueue",
    "enqueue_at",
    "enqueue_at_to",
    "enqueue_at_with_queue",
    "enqueue_in",
    "enqueue_in_to",
    "enqueue_in_with_queue",
    "enqueue_to",
    "job",
    "remove_delayed",
    "remove_delayed_in_queue",
    "scheduled_at",
    "worker_hook",
]


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'resqued' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
