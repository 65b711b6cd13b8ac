"""The documented, stable JSON form of a fleet snapshot (``resqued status --json``).

Field names only ever get added; ``format`` changes if one is renamed or removed.
The field list is in docs/operations.md.
"""

from __future__ import annotations

import json
from typing import Any

from resqued.fleet.model import CurrentJob, Failure, Fleet, Master, Worker
from resqued.fleet.scheduler import Mover

FORMAT = 1


def fleet_dict(fleet: Fleet) -> dict[str, Any]:
    s = fleet.stats
    return {
        "format": FORMAT,
        "taken_at": fleet.taken_at,
        "redis": fleet.redis,
        "namespace": fleet.namespace,
        "paused_all": fleet.paused_all,
        "stats": {
            "processed": s.processed,
            "failed": s.failed,
            "failed_list": s.failed_list,
            "pending": s.pending,
            "workers": s.workers,
            "working": s.working,
        },
        "masters": [master_dict(m) for m in fleet.masters],
        "workers": [worker_dict(w) for w in fleet.workers],
        "queues": [{"name": q.name, "depth": q.depth} for q in fleet.queues],
        "failures": [failure_dict(f) for f in fleet.failures],
        "hosts": [
            {
                "name": b.host,
                "beat_at": b.beat_at,
                "every": b.every,
                "unreachable": b.unreachable,
            }
            for b in fleet.host_beats.values()
        ],
        "scheduler": scheduler_dict(fleet.scheduler),
    }


def scheduler_dict(m: Mover | None) -> dict[str, Any] | None:
    if m is None:
        return None
    return {
        "lock_holder": m.holder,
        "lock_ttl": m.lock_ttl,
        "delayed": m.delayed,
        "delayed_exact": m.exact,
        "timestamps": m.timestamps,
        "due": m.due,
        "earliest": m.earliest,
        "lag": m.lag,
    }


def master_dict(m: Master) -> dict[str, Any]:
    lst, rel = m.listener, m.last_reload
    return {
        "id": m.id,
        "host": m.host,
        "pid": m.pid,
        "version": m.version,
        "generation": m.generation,
        "config": list(m.config),
        "started_at": m.started_at,
        "heartbeat_at": m.heartbeat_at,
        "paused": m.paused,
        "state": m.state,
        "listener": None
        if lst is None
        else {"pid": lst.pid, "number": lst.number, "state": lst.state, "error": lst.error},
        "workers": {
            "configured": m.workers.configured,
            "running": m.workers.running,
            "pids": list(m.workers.pids),
        },
        "last_reload": None
        if rel is None
        else {"at": rel.at, "outcome": rel.outcome, "error": rel.error},
        "replacements": dict(m.replacements),
        "replaced_recently": [
            {"at": x.at, "pid": x.pid, "queues": x.queues, "reason": x.reason}
            for x in m.recent_replacements
        ],
        "worker_ids": list(m.worker_ids),
    }


def job_dict(j: CurrentJob | None) -> dict[str, Any] | None:
    if j is None:
        return None
    return {
        "queue": j.queue,
        "class": j.class_name,
        "args": j.args,
        "run_at": j.run_at,
        "seconds": j.seconds,
    }


def worker_dict(w: Worker) -> dict[str, Any]:
    return {
        "id": w.id,
        "host": w.host,
        "pid": w.pid,
        "thread": w.thread,
        "queues": list(w.queues),
        "state": w.state,
        "job": job_dict(w.job),
        "processed": w.processed,
        "failed": w.failed,
        "started_at": w.started_at,
        "heartbeat_at": w.heartbeat_at,
        "master": w.master,
    }


def failure_dict(f: Failure) -> dict[str, Any]:
    return {
        "index": f.index,
        "failed_at": f.failed_at,
        "failed_at_text": f.failed_at_text,
        "queue": f.queue,
        "class": f.class_name,
        "exception": f.exception,
        "error": f.error,
        "worker": f.worker,
        "retried_at": f.retried_at,
    }


def to_json(fleet: Fleet, indent: int | None = 2) -> str:
    return json.dumps(fleet_dict(fleet), indent=indent, ensure_ascii=False)
