"""Take one snapshot of the fleet from Redis: a few pipelined round trips, no writes
(other than forgetting masters whose registration expired).  Workers are read with one
MGET per ``BATCH`` of them, every batch in the same round trip: the commands a snapshot
costs grow with the fleet by one per 256 workers, not four per worker."""

from __future__ import annotations

from typing import Any

from resqued.fleet.hosts import read_host_beats
from resqued.fleet.masters import read_masters
from resqued.fleet.model import (
    CurrentJob,
    Failure,
    Fleet,
    Master,
    Queue,
    Stats,
    Worker,
    WorkerState,
)
from resqued.fleet.parse import integer, job_document, parse_time, split_worker_id, text
from resqued.fleet.scheduler import read_mover
from resqued.resque.failed import FailedJob, FailedList
from resqued.resque.keys import Keys
from resqued.resque.queue_admin import depths
from resqued.resque.store import Store

RECENT_FAILURES = 10
BATCH = 256  # workers read by one MGET (all batches go in one round trip)


def _worker_keys(k: Keys, wid: str) -> tuple[str, str, str, str]:
    return (k.worker(wid), k.started(wid), k.processed_by(wid), k.failed_by(wid))


def read_fleet(
    store: Store, recent_failures: int = RECENT_FAILURES, forget_dead: bool = True
) -> Fleet:
    r, k = store.redis, store.keys
    now = store.server_time()
    masters = read_masters(store, forget_dead)
    queues = [Queue(q.name, q.depth) for q in depths(store)]
    ids = sorted(text(w) for w in r.smembers(k.workers))
    pipe = r.pipeline(transaction=False)
    for i in range(0, len(ids), BATCH):
        pipe.mget([key for wid in ids[i : i + BATCH] for key in _worker_keys(k, wid)])
    pipe.hgetall(k.heartbeat)
    pipe.get(k.processed)
    pipe.get(k.failed_count)
    pipe.llen(k.failed)
    *batches, beats_raw, processed, failed, failed_list = pipe.execute()
    per_worker = [value for batch in batches for value in batch]
    beats = {text(w): parse_time(text(t)) for w, t in beats_raw.items()}
    paused_all = store.paused()
    owners = {(m.host, pid): m for m in masters for pid in m.workers.pids}
    workers = []
    for i, wid in enumerate(ids):
        doc, started, done, fails = per_worker[4 * i : 4 * i + 4]
        workers.append(
            _worker(wid, job_document(doc), started, done, fails, beats, owners, paused_all, now)
        )
    for m in masters:
        m.worker_ids.extend(w.id for w in workers if w.master == m.id)
    failures = [_failure(job) for job in FailedList(store).recent(recent_failures)]
    stats = Stats(
        processed=integer(processed),
        failed=integer(failed),
        failed_list=int(failed_list),
        pending=sum(q.depth for q in queues),
        workers=len(workers),
        working=sum(1 for w in workers if w.job is not None),
    )
    hosts = sorted({m.host for m in masters} | {w.host for w in workers})
    return Fleet(
        host_beats=read_host_beats(store, hosts, workers, now),
        taken_at=now,
        redis=store.safe_url,
        namespace=k.namespace,
        paused_all=paused_all,
        stats=stats,
        masters=masters,
        workers=workers,
        queues=queues,
        failures=failures,
        scheduler=read_mover(store, now),
    )


def read_worker(store: Store, wid: str) -> tuple[Worker | None, Master | None, float]:
    """One worker (None when it is not registered), its master, and the Redis time: a few
    commands whatever the size of the fleet (and one MGET per 256 masters)."""
    r, k = store.redis, store.keys
    masters = read_masters(store, forget_dead=False)
    pipe = r.pipeline(transaction=False)
    pipe.time()
    pipe.sismember(k.workers, wid)
    pipe.mget(list(_worker_keys(k, wid)))
    pipe.hget(k.heartbeat, wid)
    pipe.get(k.pause)
    (sec, usec), member, (doc, started, done, fails), beat, pause = pipe.execute()
    now = sec + usec / 1e6
    if not member:
        return None, None, now
    paused_all = pause is not None and text(pause).strip().lower() == "true"
    owners = {(m.host, pid): m for m in masters for pid in m.workers.pids}
    beats = {wid: parse_time(text(beat))} if beat is not None else {}
    w = _worker(wid, job_document(doc), started, done, fails, beats, owners, paused_all, now)
    return w, next((m for m in masters if m.id == w.master), None), now


def _worker(
    wid: str,
    doc: dict[str, Any] | None,
    started: bytes | None,
    done: bytes | None,
    fails: bytes | None,
    beats: dict[str, float | None],
    owners: dict[tuple[str, int], Master],
    paused_all: bool,
    now: float,
) -> Worker:
    host, pid, queues, thread = split_worker_id(wid)
    owner = owners.get((host, pid)) if pid is not None else None
    job = _current_job(doc, now) if doc is not None else None
    state: WorkerState
    if owner is not None and owner.state != "running":
        state = "stopping"
    elif job is not None:
        state = "working"
    elif paused_all or (owner is not None and owner.paused):
        state = "paused"
    else:
        state = "waiting"
    return Worker(
        id=wid,
        host=host,
        pid=pid,
        thread=thread,
        queues=queues,
        state=state,
        job=job,
        processed=integer(done),
        failed=integer(fails),
        started_at=parse_time(started),
        heartbeat_at=beats.get(wid),
        master=owner.id if owner else None,
    )


def _current_job(doc: dict[str, Any], now: float) -> CurrentJob:
    payload = doc.get("payload")
    payload = payload if isinstance(payload, dict) else {}
    args = payload.get("args")
    run_at = parse_time(doc.get("run_at"))
    return CurrentJob(
        queue=text(doc.get("queue")),
        class_name=text(payload.get("class")),
        args=args if isinstance(args, list) else ([] if args is None else [args]),
        run_at=run_at,
        seconds=max(0.0, now - run_at) if run_at is not None else None,
        payload=payload,
    )


def _failure(job: FailedJob) -> Failure:
    return Failure(
        index=job.index,
        failed_at=parse_time(job.failed_at),
        failed_at_text=job.failed_at,
        queue=job.queue,
        class_name=job.class_name,
        exception=job.exception,
        error=job.error,
        worker=job.worker,
        retried_at=parse_time(job.retried_at),
    )
