"""The master's registration in Redis: who it is and what it runs, for status and the dashboard.

``<ns>:resqued:masters`` is a SET of master ids (``host:pid``); each live master
keeps ``<ns>:resqued:master:<host>:<pid>``, a JSON STRING that expires after
``TTL`` seconds and is refreshed every ``REFRESH`` seconds (see
``resqued.fleet.masters``, which reads it back; the fields are listed in
docs/operations.md).  The writes happen in a thread of their own: a Redis that
is slow or gone never stalls the master's loop, and its signals are served on
time.  An outage is logged once, and its end once.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import redis

from resqued.fleet.control import MAX_TAKEN, StopJob, control_key, still_running
from resqued.fleet.masters import REFRESH, TTL, master_key, masters_key
from resqued.resque.store import Store

log = logging.getLogger("resqued")


class Registration:
    def __init__(self, store: Store, master_id: str) -> None:
        self.store = store
        self.id = master_id
        self._doc: dict[str, Any] | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._down = False
        self._requests: list[StopJob] = []  # the dashboard's, for the master's loop
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="registration", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def publish(self, doc: dict[str, Any], now: bool = False) -> None:
        """The latest document: written at once when it changed, else at the next refresh."""
        previous = self._doc
        self._doc = doc
        if now or previous is None or _changed(previous, doc):
            self._wake.set()

    def take_requests(self) -> list[StopJob]:
        """The dashboard's requests taken from Redis since the last call."""
        with self._lock:
            taken, self._requests = self._requests, []
        return taken

    def stop(self, timeout: float = 2.0) -> None:
        """Stop refreshing and remove the registration (best effort, bounded)."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        try:
            k = self.store.keys
            pipe = self.store.redis.pipeline(transaction=False)
            pipe.delete(master_key(k, self.id))
            pipe.srem(masters_key(k), self.id)
            pipe.execute()
        except (redis.RedisError, OSError) as exc:
            log.debug("could not remove the master's registration: %s", exc)

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._doc is not None:
                self._write(self._doc)
            self._wake.wait(REFRESH)
            self._wake.clear()

    def _write(self, doc: dict[str, Any]) -> None:
        k = self.store.keys
        try:
            pipe = self.store.redis.pipeline(transaction=False)
            pipe.set(master_key(k, self.id), json.dumps(doc, separators=(",", ":")), ex=TTL)
            pipe.sadd(masters_key(k), self.id)  # after the SET: readers drop ids with no key
            pipe.lpop(control_key(k, self.id), MAX_TAKEN)  # the dashboard's requests
            taken = pipe.execute()[-1] or []
            wanted = [r for r in map(StopJob.decode, taken) if r is not None]
            wanted = [r for r in wanted if still_running(self.store, r)]
            with self._lock:
                self._requests.extend(wanted)
        except (redis.RedisError, OSError) as exc:
            if not self._down:
                self._down = True
                log.warning("cannot register the master in redis (%s); retrying", exc)
            return
        if self._down:
            self._down = False
            log.info("the master's registration in redis is back")


def _changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Anything but the heartbeat differs."""
    return {**old, "heartbeat_at": 0} != {**new, "heartbeat_at": 0}
