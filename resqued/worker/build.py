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
from resqued.scoreboard import Scoreboard
from resqued.worker.lifecycle import Worker
from resqued.worker.options import WorkerOptions, jittered
from resqued.worker.threads import ThreadedWorker

if TYPE_CHECKING:
    from resqued.config.model import Config, WorkerRow


class Runnable(Protocol):
    """What ``build_worker`` returns: something the caller runs with ``work()``."""

    def work(self) -> int: ...


def options_for(
    config: Config,
    row: WorkerRow | None = None,
    *,
    pause_key: str = "",
    parent_pid: int = 0,
    prune: bool = False,
) -> WorkerOptions:
    """A worker process's options from the config and its row (the row's settings win).

    Each call draws the process's own ``jobs_per_fork`` and ``max_age`` (plus their
    jitter): the listener calls it once per fork, for the worker and its guard rails.
    """

    def pick(name: str) -> Any:
        mine = getattr(row, name, None)
        return getattr(config, name) if mine is None else mine

    hard, soft = pick("job_timeout"), pick("job_soft_timeout")
    memory, memory_soft = pick("memory_limit"), pick("memory_soft_limit")
    return WorkerOptions(
        fork_per_job=config.fork_per_job,
        interval=pick("interval"),
        jobs_per_fork=jittered(config.jobs_per_fork, config.jobs_per_fork_jitter),
        term_child=config.term_child,
        term_timeout=config.term_timeout,
        prune=prune,
        pause_key=pause_key,
        parent_pid=parent_pid,
        job_timeout=hard,
        job_soft_timeout=0.0 if hard and soft >= hard else soft,
        memory_limit=memory,
        memory_soft_limit=0 if memory and memory_soft >= memory else memory_soft,
        max_age=jittered(config.max_age, config.max_age_jitter),
    )


def build_worker(
    store: Store,
    queues: QueueList,
    options: WorkerOptions,
    threads: int = 1,
    factory: Callable[[list[str]], Any] | None = None,
    board: Scoreboard | None = None,
) -> Runnable:
    """A ``Worker``, a ``ThreadedWorker`` (threads > 1), or what the config's factory returns.

    Whatever it is, the caller runs it with ``work()``.  ``board``: the scoreboard its
    listener reads (None for ``resqued work``, which beats its own Redis heartbeat).
    """
    if factory is not None:
        made: Runnable = hooks.call("config.worker_factory", factory, list(queues.names))
        return made
    if threads > 1:
        return ThreadedWorker(store, queues, options, threads, board)
    return Worker(store, queues, options, board=board)
