"""Asking a resqued master, on any host, to do something for the dashboard: stop one
worker's job (as ``kill -USR1`` on its host would).

``<ns>:resqued:control:<master id>`` is a LIST of JSON requests the master takes
with each refresh of its registration (every few seconds), in the same round
trip; it expires by itself if no master takes it.  A request names the job by
its worker and its ``run_at``: a job that has ended (and the worker's next one)
is never stopped by a request for an earlier one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from resqued.fleet.parse import integer, job_document, text
from resqued.resque.keys import Keys
from resqued.resque.store import Store

TTL = 60  # seconds a request waits for its master
MAX_TAKEN = 16  # requests a master takes per refresh


def control_key(keys: Keys, master_id: str) -> str:
    return f"{keys.prefix}resqued:control:{master_id}"


@dataclass(frozen=True)
class StopJob:
    worker: str  # the worker's id
    pid: int
    run_at: str  # the job's run_at as the worker wrote it

    def encode(self) -> str:
        doc = {"do": "stop-job", "worker": self.worker, "pid": self.pid, "run_at": self.run_at}
        return json.dumps(doc, separators=(",", ":"))

    @classmethod
    def decode(cls, raw: Any) -> StopJob | None:
        try:
            doc = json.loads(raw)
        except (ValueError, TypeError, UnicodeDecodeError):
            return None
        if not isinstance(doc, dict) or doc.get("do") != "stop-job":
            return None
        pid = integer(doc.get("pid"))
        if pid <= 1:
            return None
        return cls(text(doc.get("worker")), pid, text(doc.get("run_at")))


def ask(store: Store, master_id: str, request: StopJob) -> None:
    """Leave ``request`` for ``master_id`` (RPUSH and EXPIRE in one round trip)."""
    key = control_key(store.keys, master_id)
    pipe = store.redis.pipeline(transaction=True)
    pipe.rpush(key, request.encode())
    pipe.expire(key, TTL)
    pipe.execute()


def still_running(store: Store, request: StopJob) -> bool:
    """Whether the worker still runs the job the request names (its ``run_at``)."""
    raw = store.redis.get(store.keys.worker(request.worker))
    doc = job_document(raw.encode() if isinstance(raw, str) else raw)
    return doc is not None and text(doc.get("run_at")) == request.run_at
