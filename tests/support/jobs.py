"""Jobs and Redis state as Ruby Resque keeps them: push, read failures, watch a worker."""

from __future__ import annotations

import json

import redis

from resqued.version import __version__
from support.procs import titles, wait_for

PREFIX = f"resque-{__version__}"


def payload(cls: str, *args, **extra) -> bytes:
    """The exact bytes Ruby's ``Resque.enqueue`` writes."""
    return json.dumps(
        {"class": cls, "args": list(args), **extra}, separators=(",", ":"), ensure_ascii=False
    ).encode()


def push(r: redis.Redis, queue: str, cls: str, *args, **extra) -> bytes:
    """Enqueue as Ruby does (SADD + RPUSH); return the exact bytes pushed."""
    raw = payload(cls, *args, **extra)
    push_raw(r, queue, raw)
    return raw


def push_raw(r: redis.Redis, queue: str, raw: bytes) -> None:
    r.sadd("resque:queues", queue)
    r.rpush(f"resque:queue:{queue}", raw)


def failures(r: redis.Redis) -> list[dict]:
    return [json.loads(x) for x in r.lrange("resque:failed", 0, -1)]


def strings(r: redis.Redis, key: str) -> list[str]:
    return [x.decode() for x in r.lrange(key, 0, -1)]


def processed(r: redis.Redis) -> int:
    return int(r.get("resque:stat:processed") or 0)


def worker_ids(r: redis.Redis) -> list[str]:
    return sorted(x.decode() for x in r.smembers("resque:workers"))


def worker_id(r: redis.Redis, timeout: float = 15.0) -> str:
    ids = wait_for(lambda: worker_ids(r), timeout, "a registered worker")
    assert len(ids) == 1, ids
    return ids[0]


def reserves(r: redis.Redis) -> int:
    """How many scripts Redis has run (each worker reserve is one EVALSHA)."""
    stats = r.info("commandstats")
    return sum(v["calls"] for k, v in stats.items() if k in ("cmdstat_evalsha", "cmdstat_eval"))


def wait_reserves(r: redis.Redis, n: int = 2, timeout: float = 10.0) -> None:
    """Wait until the worker has looked at its queues ``n`` more times."""
    start = reserves(r)
    wait_for(lambda: reserves(r) >= start + n, timeout, f"{n} more reserve calls")


def idle(w, queues: str = "default", timeout: float = 15.0) -> None:
    wait_for(
        lambda: any(t == f"{PREFIX}: Waiting for {queues}" for t in titles(w.pid)),
        timeout,
        f"worker idle on {queues}",
    )


def work(resqued, app_dir, *args, env=None, lib: str = "demo_jobs"):
    """``resqued work -r <lib> -i 1 ...`` in the app directory."""
    return resqued("work", "-r", lib, "-i", "1", *args, cwd=app_dir, env=env)
