"""The heartbeat thread: ``workers:heartbeat`` every minute, stamped with the Redis clock."""

from __future__ import annotations

import logging
import threading

import redis

from resqued.resque import registry
from resqued.resque.store import Store

log = logging.getLogger("resqued")

HEARTBEAT_INTERVAL = 60.0


class Heartbeat:
    """One thread beating for every worker id of this process, through the worker's client.

    The client's pool is shared with the worker's bookkeeping (register,
    unregister, ending a wait): no connection of its own.
    """

    def __init__(self, store: Store, ids: list[str]) -> None:
        self.store = store
        self.ids = ids
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_INTERVAL):
            try:
                registry.heartbeat(self.store, self.ids)
            except redis.RedisError as exc:
                log.debug("heartbeat failed: %s", exc)
