"""The Redis heartbeat of a listener's workers: one HSET for all of them, every minute.

Workers under a listener keep no Redis connection or thread for it: the
listener stamps ``workers:heartbeat`` (with the Redis clock, as Ruby Resque
does) for every worker thread whose scoreboard shows it alive and registered,
so other hosts' prunes see them as live and a stuck worker stops beating.
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

    def beat(self, ids: list[str], now: float) -> None:
        self.next_at = now + HEARTBEAT_INTERVAL
        try:
            registry.heartbeat(self.store, ids)
        except (redis.RedisError, OSError) as exc:
            log.warning("could not write the workers' heartbeat: %s", exc)
