"""Redis state as Ruby Resque, pyres and a resqued master write it, for fleet and failed-list tests."""

from __future__ import annotations

import json
import time

import redis

NS = "resque:"


def dumps(value) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def register_master(r: redis.Redis, host: str, pid: int, ttl: int = 30, **fields) -> str:
    """A master's registration document, as resqued/master/status.py builds it."""
    mid = f"{host}:{pid}"
    now = time.time()
    doc = {
        "id": mid,
        "host": host,
        "pid": pid,
        "version": "0.1.0",
        "generation": 1,
        "config": ["config/resqued.conf.py"],
        "started_at": now - 3600,
        "heartbeat_at": now,
        "paused": False,
        "state": "running",
        "listener": {"pid": pid + 1, "number": 1, "state": "running", "error": None},
        "workers": {"configured": 2, "running": 2, "pids": []},
        "last_reload": None,
        "replacements": {},
    }
    doc.update(fields)
    r.set(f"{NS}resqued:master:{mid}", dumps(doc), ex=ttl)
    r.sadd(f"{NS}resqued:masters", mid)
    return mid


def register_worker(
    r: redis.Redis,
    wid: str,
    *,
    started: str | int = "2024-01-01 12:00:00 +0000",
    job: dict | None = None,
    run_at: str | int = "2024-01-01T12:00:00Z",
    queue: str = "high",
    processed: int = 0,
    failed: int = 0,
    heartbeat: str | None = "2024-01-01T12:00:00+00:00",
) -> str:
    """A registered worker in Ruby's formats (pass epoch ``started``/``run_at`` for pyres)."""
    r.sadd(f"{NS}workers", wid)
    r.set(f"{NS}worker:{wid}:started", started)
    if heartbeat is not None:
        r.hset(f"{NS}workers:heartbeat", wid, heartbeat)
    if processed:
        r.set(f"{NS}stat:processed:{wid}", processed)
    if failed:
        r.set(f"{NS}stat:failed:{wid}", failed)
    if job is not None:
        r.set(f"{NS}worker:{wid}", dumps({"queue": queue, "run_at": run_at, "payload": job}))
    return wid


def ruby_failure(
    cls: str = "Archive",
    args: list | None = None,
    queue: str = "high",
    exception: str = "RuntimeError",
    error: str = "boom",
    worker: str = "rubyhost:77:high",
    failed_at: str = "2024/01/01 12:00:00 UTC",
    **extra,
) -> bytes:
    """A record as Ruby's Resque::Failure::Redis#save writes it (backtrace an array)."""
    return dumps(
        {
            "failed_at": failed_at,
            "payload": {"class": cls, "args": [35, "tar"] if args is None else args},
            "exception": exception,
            "error": error,
            "backtrace": ["/app/jobs/archive.rb:12:in `perform'", "/gems/resque/job.rb:1:in `x'"],
            "worker": worker,
            "queue": queue,
            **extra,
        }
    )


def pyres_failure(cls: str = "jobs.Mailer", queue: str = "mail") -> bytes:
    """A record as pyres 1.5 writes it: ``"exception":"type"``, a local time, no zone."""
    return dumps(
        {
            "failed_at": "2024/01/01 12:00:00",
            "payload": {"class": cls, "args": [1], "enqueue_timestamp": 1704110000.5},
            "exception": "type",
            "error": "type: <class 'ValueError'>",
            "backtrace": [
                "Traceback (most recent call last):",
                '  File "jobs.py", line 3, in perform',
                "ValueError: no such address",
                "",
            ],
            "queue": queue,
            "worker": "pyhost:88:mail",
        }
    )


def push_failures(r: redis.Redis, *records: bytes) -> None:
    for rec in records:
        r.rpush(f"{NS}failed", rec)
