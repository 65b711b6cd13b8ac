"""Queues as resque-web lists and removes them: names from ``queues``, depths by LLEN."""

from __future__ import annotations

from dataclasses import dataclass

from resqued.errors import ResquedError
from resqued.resque.store import Store


@dataclass(frozen=True)
class QueueDepth:
    name: str
    depth: int


def depths(store: Store) -> list[QueueDepth]:
    """Every queue in ``queues``, A-Z, with the number of jobs waiting on it (one pipeline)."""
    names = store.queue_names()
    pipe = store.redis.pipeline(transaction=False)
    for name in names:
        pipe.llen(store.keys.queue(name))
    return [QueueDepth(n, int(d)) for n, d in zip(names, pipe.execute(), strict=True)]


def remove_queue(store: Store, name: str) -> int:
    """Drop a queue and every job on it, as ``Resque.remove_queue`` does (SREM ``queues``,
    DEL ``queue:<name>`` -- as UNLINK -- in one transaction).  Returns how many jobs were dropped.

    The queue reappears with the next job pushed to it; workers that name it keep working.
    """
    if not name:
        raise ResquedError("no queue name given")
    pipe = store.redis.pipeline(transaction=True)
    pipe.sismember(store.keys.queues, name)
    pipe.llen(store.keys.queue(name))
    pipe.srem(store.keys.queues, name)
    pipe.unlink(store.keys.queue(name))  # DEL, with a long queue's memory freed in the background
    known, count, _, _ = pipe.execute()
    if not known and not count:
        raise ResquedError(f"no queue named {name!r}")
    return int(count)
