"""The worker registry: register, heartbeat and unregister, as Ruby Resque does (the prune:
``prune.py``)."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable
from typing import Any

from resqued.resque import failure, host, times
from resqued.resque.payload import malformed_stand_in
from resqued.resque.queues import is_pattern
from resqued.resque.scripts import FAIL_IN_FLIGHT, REQUEUE_UNSTARTED
from resqued.resque.store import Store

log = logging.getLogger("resqued")


# Called with (class_name, exception, args) when a job left in flight is failed,
# so on_failure hooks run where the job class can be resolved.
FailureHook = Callable[[str, BaseException, list[Any]], None]


def _text(value: bytes | str) -> str:
    """A key or value as Redis returned it, as text."""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def hostname() -> str:
    """This host's name in worker ids (``--hostname``/``$RESQUED_HOSTNAME``, else the system's)."""
    return host.hostname()


def worker_id(queues: str, pid: int | None = None) -> str:
    return f"{hostname()}:{pid or os.getpid()}:{queues}"


def register(store: Store, wid: str, dead_job_hook: FailureHook | None = None) -> str:
    """Heartbeat (from Redis TIME), SADD workers, SET :started, zero stats -- one pipeline.

    Returns the ``:started`` stamp, for ``reregister``.

    A job left in ``worker:<id>`` by an earlier process with the same id (a
    container restarted with the same hostname and pid) is failed first.
    """
    k = store.keys
    fail_in_flight(store, wid, failure.DIRTY_EXIT, "Job still being processed", dead_job_hook)
    now = store.server_time()
    started = times.started()
    pipe = store.redis.pipeline(transaction=False)
    pipe.hdel(k.heartbeat, wid)
    pipe.hset(k.heartbeat, wid, times.heartbeat(now))
    pipe.sadd(k.workers, wid)
    pipe.set(k.started(wid), started)
    pipe.delete(k.processed_by(wid), k.failed_by(wid))  # this worker counts from zero
    pipe.execute()
    return started


def reregister(store: Store, wid: str, started: str) -> None:
    """A live worker Redis forgot (restarted empty): SADD workers, its ``:started``, a heartbeat.

    Nothing else changes: no job is failed and the worker's counts stay.
    """
    k = store.keys
    now = store.server_time()
    pipe = store.redis.pipeline(transaction=False)
    pipe.hset(k.heartbeat, wid, times.heartbeat(now))
    pipe.sadd(k.workers, wid)
    pipe.set(k.started(wid), started)
    pipe.execute()
    log.warning(
        "worker %s was missing from %s (Redis restarted empty?); registered again", wid, k.workers
    )


def heartbeat(store: Store, wids: list[str]) -> None:
    """Write a heartbeat for each id, stamped with the Redis server's clock."""
    if not wids:
        return
    stamp = times.heartbeat(store.server_time())
    store.redis.hset(store.keys.heartbeat, mapping={w: stamp for w in wids})


def fail_in_flight(
    store: Store,
    wid: str,
    exception: str,
    error: str,
    dead_job_hook: FailureHook | None = None,
) -> bool:
    """Move a job left in ``worker:<id>`` to ``failed``, in one atomic step, once.

    The FAIL_IN_FLIGHT script writes the failure record first and deletes
    ``worker:<id>`` only if it still holds what was read here.  A Redis that
    refuses the write (``OOM``, ``READONLY``, ``MISCONF``) refuses the whole step:
    the error is raised and the job stays where a later unregister, prune or
    start finds it.  False when there was no job (or someone else moved it).
    """
    k = store.keys
    key = k.worker(wid)
    move = store.redis.register_script(FAIL_IN_FLIGHT)
    for _ in range(3):  # worker:<id> changed between our read and the move: read it again
        raw = store.redis.get(key)
        if raw is None:
            return False
        raw_bytes = raw if isinstance(raw, bytes) else raw.encode()
        try:
            doc = json.loads(raw_bytes)
        except (ValueError, RecursionError):
            doc = None
        if isinstance(doc, dict) and isinstance(doc.get("payload"), dict):
            payload, queue = doc["payload"], str(doc.get("queue") or "")
        else:  # not what Resque or pyres write: keep the raw text for whoever looks
            payload, queue = malformed_stand_in(raw_bytes), ""
        record = failure.record(payload, exception, error, [], wid, queue, raw=raw_bytes)
        if move(keys=[key, k.failed, k.failed_count, k.failed_by(wid)], args=[raw_bytes, record]):
            break
    else:
        return False
    log.warning("failed job left in flight by %s: %s %s", wid, exception, payload.get("class"))
    if dead_job_hook and isinstance(payload, dict):
        args = payload.get("args")
        dead_job_hook(
            str(payload.get("class")), RuntimeError(error), args if isinstance(args, list) else []
        )
    return True


def requeue_unstarted(store: Store, wid: str, finished: int) -> bool:
    """Put a job the worker reserved but never started back at the head of its queue.

    ``finished``: the jobs the worker finished, every outcome recorded (its count,
    ``stat:processed:<id>``, must match: else ``worker:<id>`` may hold a job it ran,
    whose outcome was lost, and that one is failed as usual).  A RESERVE whose reply
    was lost (Redis killed after writing it) leaves such a job when the worker stops
    before it asks again.  Only the document the RESERVE script writes is read.
    """
    k = store.keys
    raw = store.redis.get(k.worker(wid))
    if raw is None:
        return False
    raw_bytes = raw if isinstance(raw, bytes) else raw.encode()
    head, sep, body = raw_bytes.partition(b',"payload":')
    try:
        queue = json.loads(head + b"}").get("queue")
    except (ValueError, AttributeError, RecursionError):
        return False
    if not sep or not body.endswith(b"}") or not isinstance(queue, str) or not queue:
        return False
    payload = body[:-1]
    back = store.redis.register_script(REQUEUE_UNSTARTED)
    keys = [k.worker(wid), k.processed_by(wid), k.queue(queue), k.queues]
    if not back(keys=keys, args=[raw_bytes, finished, payload, queue]):
        return False
    log.warning("worker %s: a job it reserved and never started is back on %s", wid, queue)
    return True


def unregister(
    store: Store,
    wid: str,
    exception: str = failure.DIRTY_EXIT,
    error: str = "Job still being processed",
    dead_job_hook: FailureHook | None = None,
) -> None:
    """Requeue hand-over jobs, fail any job still in flight, then remove every key of the worker.

    A Redis that refuses writes stops it before any key is removed (the error is
    raised): the worker stays registered with its job, for a later try or prune.
    """
    requeue_handed_over(store, wid)
    fail_in_flight(store, wid, exception, error, dead_job_hook)
    k = store.keys
    pipe = store.redis.pipeline(transaction=False)
    pipe.srem(k.workers, wid)
    pipe.delete(k.worker(wid), k.started(wid), k.processed_by(wid), k.failed_by(wid))
    pipe.hdel(k.heartbeat, wid)
    pipe.execute()


def requeue_handed_over(store: Store, wid: str, forget: bool = True) -> int:
    """Put jobs an idle wait moved into the worker's hand-over lists back at their queue's head.

    The lists are found from the worker's record (``Keys.handovers``) and, for a
    worker of an older version that kept none, from the queues its id names:
    never by scanning the keyspace.  ``forget``: the worker is gone (its record
    goes too); a worker that pauses keeps it.
    """
    moved = store.hand_back(wid, forget, named_queues(wid))
    if moved:
        log.info("requeued %d job(s) handed over to %s", moved, wid)
    return moved


def named_queues(wid: str) -> list[str]:
    """The queues a worker id names literally (``host:pid:high,low#2`` -> high, low)."""
    parts = wid.split(":", 2)
    if len(parts) < 3:
        return []
    queues = re.sub(r"#[0-9]+$", "", parts[2]).split(",")
    return [q for q in queues if q and not q.startswith("!") and not is_pattern(q)]


def requeue_abandoned_handovers(store: Store) -> int:
    """Requeue hand-over jobs of workers that are no longer registered (a safety net).

    Reads resqued's index of workers with hand-over records against ``workers``:
    its cost follows the number of workers, not the size of the keyspace.
    """
    k = store.keys
    moved = 0
    for raw in store.redis.sdiff([k.handover_workers, k.workers]):
        moved += store.hand_back(_text(raw), True, named_queues(_text(raw)))
    return moved
