"""The Redis heartbeat of a listener's workers: one HSET for all of them, every minute.

Workers under a listener keep no Redis connection or thread for it: the
listener stamps ``workers:heartbeat`` (with the Redis clock, as Ruby Resque
does) for every worker thread whose scoreboard shows it alive and registered,
so other hosts' prunes see them as live and a stuck worker stops beating.
Workers of a listener that died, still finishing their jobs (the master tells
the new listener about them), are beaten for too, if Redis has them registered.
"""

from __future__ import annotations

import logging

import redis

from resqued.resque import registry
from resqued.resque.store import Store
from resqued.worker.heartbeat import HEARTBEAT_INTERVAL

log = logging.getLogger("resqued")


class RedisHeartbeat:
    def __init__(self, store: Store, now: float) -> None:
        self.store = store
        self.next_at = now + HEARTBEAT_INTERVAL  # workers beat once when they register

    def due(self, now: float) -> bool:
        return now >= self.next_at

    def beat(self, ids: list[str], now: float, if_registered: list[str] | None = None) -> None:
        """One HSET for ``ids`` and those of ``if_registered`` that Redis has registered."""
        self.next_at = now + HEARTBEAT_INTERVAL
        try:
            if if_registered:
                known = self.store.redis.smismember(self.store.keys.workers, if_registered)
                ids = ids + [w for w, yes in zip(if_registered, known, strict=True) if yes]
            registry.heartbeat(self.store, ids)
        except (redis.RedisError, OSError) as exc:
            log.warning("could not write the workers' heartbeat: %s", exc)
