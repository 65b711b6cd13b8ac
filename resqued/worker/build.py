"""The one place a worker is built: options from a config row, then the right kind of worker.

The listener (for each worker slot) and ``resqued work`` (from its flags and
environment, as a ``Config``) both come through here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from resqued import hooks
from resqued.resque.queues import QueueList
from resqued.resque.store import Store
from resqued.worker.lifecycle import Worker
from resqued.worker.options import WorkerOptions
from resqued.worker.threads import ThreadedWorker

if TYPE_CHECKING:
    from resqued.config.model import Config, WorkerSlot


class Runnable(Protocol):
    """What ``build_worker`` returns: something the caller runs with ``work()``."""

    def work(self) -> int: ...


def options_for(
    config: Config,
    slot: WorkerSlot | None = None,
    *,
    pause_key: str = "",
    parent_pid: int = 0,
    prune: bool = False,
) -> WorkerOptions:
    """A worker's options from the config and its row (the row's interval wins)."""
    interval = slot.interval if slot is not None and slot.interval is not None else config.interval
    return WorkerOptions(
        fork_per_job=config.fork_per_job,
        interval=interval,
        jobs_per_fork=config.jobs_per_fork,
        term_child=config.term_child,
        term_timeout=config.term_timeout,
        prune=prune,
        pause_key=pause_key,
        parent_pid=parent_pid,
    )


def build_worker(
    store: Store,
    queues: QueueList,
    options: WorkerOptions,
    threads: int = 1,
    factory: Callable[[list[str]], Any] | None = None,
) -> Runnable:
    """A ``Worker``, a ``ThreadedWorker`` (threads > 1), or what the config's factory returns.

    Whatever it is, the caller runs it with ``work()``.
    """
    if factory is not None:
        made: Runnable = hooks.call("config.worker_factory", factory, list(queues.names))
        return made
    if threads > 1:
        return ThreadedWorker(store, queues, options, threads)
    return Worker(store, queues, options)
