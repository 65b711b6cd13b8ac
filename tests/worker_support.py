"""Helpers shared by the worker-core tests (payload, jobs, worker, pyres interop)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import redis as redis_py
from conftest import RedisServer, descendants, ps, wait_for

from resqued.version import __version__

PREFIX = f"resque-{__version__}"


def push(r, queue: str, cls: str, *args, **extra) -> bytes:
    """Enqueue as Ruby does (SADD + RPUSH); return the exact bytes pushed."""
    raw = json.dumps(
        {"class": cls, "args": list(args), **extra}, separators=(",", ":"), ensure_ascii=False
    ).encode()
    push_raw(r, queue, raw)
    return raw


def push_raw(r, queue: str, raw: bytes) -> None:
    r.sadd("resque:queues", queue)
    r.rpush(f"resque:queue:{queue}", raw)


def failures(r) -> list[dict]:
    return [json.loads(x) for x in r.lrange("resque:failed", 0, -1)]


def strings(r, key: str) -> list[str]:
    return [x.decode() for x in r.lrange(key, 0, -1)]


def titles(pid: int) -> list[str]:
    """The ps titles of ``pid`` and everything below it."""
    return [t for p, _, t in ps() if p == pid] + [t for _, _, t in descendants(pid)]


def worker_id(r, timeout: float = 15.0) -> str:
    ids = wait_for(
        lambda: [x.decode() for x in r.smembers("resque:workers")], timeout, "a registered worker"
    )
    assert len(ids) == 1, ids
    return ids[0]


def reserves(r) -> int:
    """How many scripts Redis has run (each worker reserve is one EVALSHA)."""
    stats = r.info("commandstats")
    return sum(v["calls"] for k, v in stats.items() if k in ("cmdstat_evalsha", "cmdstat_eval"))


def wait_reserves(r, n: int = 2, timeout: float = 10.0) -> None:
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
    return resqued("work", "-r", lib, "-i", "1", *args, cwd=app_dir, env=env)


def dead_pid() -> int:
    """A pid that belonged to a process that has exited."""
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


class ExtraRedis(RedisServer):
    """A redis-server of a test's own (to stop, restart, or start with a password)."""

    def __init__(self, tmp: Path, password: str | None = None) -> None:
        super().__init__(tmp)
        self.password = password

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def client(self) -> redis_py.Redis:
        return redis_py.Redis(port=self.port, password=self.password)

    def start(self) -> None:
        if not self.password:
            return super().start()
        exe = shutil.which("redis-server")
        if not exe:
            pytest.exit("redis-server is not installed", 2)
        self.proc = subprocess.Popen(
            [
                exe,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.dir),
                "--save",
                "",
                "--appendonly",
                "no",
                "--requirepass",
                self.password,
                "--logfile",
                "",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = self.client()

        def up() -> bool:
            try:
                return bool(client.ping())
            except redis_py.ConnectionError:
                return False

        wait_for(up, 10, "redis-server with a password to start")


def now() -> float:
    return time.time()
