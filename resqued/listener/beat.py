"""The Redis heartbeat of a listener's workers and of its host: one script call, every 10 s.

Workers under a listener keep no Redis connection or thread for it: the
listener stamps ``workers:heartbeat`` (with the Redis clock, as Ruby Resque
does) for every worker whose scoreboard shows it alive, so other hosts' prunes
see them as live and a stuck worker stops beating, and records its host's beat
(``resque/beats.py``) for ``resqued status``.  Only ids still in ``workers`` get
a heartbeat (a worker that unregistered meanwhile gets none back).  Workers of
a listener that died, still finishing their jobs (the master tells the new
listener about them), are beaten for too.  The prune runs in a process of its
own (``pruner.py``): nothing in the listener's loop waits for it.
"""

from __future__ import annotations

import logging

import redis

from resqued.resque import registry
from resqued.resque.beats import LISTENER_BEAT, ListenerBeat
from resqued.resque.store import Store

log = logging.getLogger("resqued")


class RedisHeartbeat:
    def __init__(self, store: Store, now: float) -> None:
        self.write = ListenerBeat(store, registry.hostname())
        self.next_at = now  # the host's beat at once; workers beat once when they register

    def due(self, now: float) -> bool:
        return now >= self.next_at

    def beat(self, ids: list[str], now: float) -> None:
        """Heartbeats for those of ``ids`` Redis has registered, and the host's beat."""
        self.next_at = now + LISTENER_BEAT
        try:
            self.write(ids)
        except (redis.RedisError, OSError) as exc:
            log.warning("could not write the workers' heartbeat: %s", exc)
