"""The job code, and the two pools under test: resqued's master and RQ's ``worker-pool``.

Both peers run the same job bodies (``job_bodies.py``); resqued names them by
class (``bench_jobs.py``), RQ by dotted function path.
"""

from __future__ import annotations

import json
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import redis

from bench._common import BenchError, spawn, start, stop

if TYPE_CHECKING:
    from rq import Queue

JOB_BODIES = '''
"""Job bodies shared by both peers; a job that records its start opens its own connection."""
import os, time
import redis

_client = None
_pid = 0


def _redis():
    global _client, _pid
    if _client is None or _pid != os.getpid():
        _client, _pid = redis.Redis.from_url(os.environ["REDIS_URL"]), os.getpid()
    return _client


def noop(*args):
    pass


def stamp(i):
    _redis().rpush("bench:starts", f"{i} {time.time()!r}")


def tick(i):
    _redis().rpush("bench:starts", f"{i} {time.time()!r}")
    time.sleep(0.005)


def nap(*args):
    time.sleep(0.01)


def trace(i, sent):
    _redis().rpush("bench:starts", f"{i} {time.time()!r} {sent!r}")
    time.sleep(0.005)
'''

BENCH_JOBS = """
import resqued
import job_bodies


@resqued.job("Noop")
class Noop:
    perform = staticmethod(job_bodies.noop)


@resqued.job("Stamp")
class Stamp:
    perform = staticmethod(job_bodies.stamp)


@resqued.job("Tick")
class Tick:
    perform = staticmethod(job_bodies.tick)


@resqued.job("Nap")
class Nap:
    perform = staticmethod(job_bodies.nap)


@resqued.job("Trace")
class Trace:
    perform = staticmethod(job_bodies.trace)
"""

QUEUE = "bench"


def write_jobs(app_dir: Path) -> None:
    (app_dir / "job_bodies.py").write_text(JOB_BODIES)
    (app_dir / "bench_jobs.py").write_text(BENCH_JOBS)


@dataclass
class Ours:
    """``masters`` x ``resqued -n WORKERS --queue bench -r bench_jobs``, each with its pidfile.

    The queue is named, as RQ's is: a ``*`` worker would also read the queue set.
    """

    client: redis.Redis
    url: str
    app_dir: Path
    workers: int = 2
    fork: bool = False
    threads: int = 1
    masters: int = 1
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    polls: int = 0  # processed() calls, subtracted from the command counts

    @property
    def expected(self) -> int:
        """Workers registered in Redis once all are up (each thread registers as a worker)."""
        return self.workers * self.threads * self.masters

    poll_command = "get"

    def start(self) -> None:
        for m in range(self.masters):
            pidfile = str(self.app_dir / f"master-{m}.pid")
            args = ["-n", str(self.workers), "--queue", QUEUE, "-r", "bench_jobs", "-p", pidfile]
            args += ["--interval", "5", "--redis", self.url]
            args += [] if self.fork else ["--no-fork"]
            args += ["--threads", str(self.threads)] if self.threads > 1 else []
            self.procs.append(spawn(args, self.app_dir, self.url))

    def registered(self) -> int:
        return int(self.client.scard("resque:workers"))

    def processed(self) -> int:
        self.polls += 1
        return int(self.client.get("resque:stat:processed") or 0)

    def failed(self) -> int:
        return int(self.client.get("resque:stat:failed") or 0)

    def enqueue_bulk(self, job: str, n: int) -> None:
        """``n`` jobs of class ``job`` (Noop, Nap ...), made visible at once."""
        name = job.capitalize()
        payloads = [json.dumps({"class": name, "args": [i]}) for i in range(n)]
        pipe = self.client.pipeline(transaction=True)
        pipe.sadd("resque:queues", QUEUE)
        pipe.rpush(f"resque:queue:{QUEUE}", *payloads)
        pipe.execute()

    def enqueue_one(self, job: str, i: int) -> None:
        import resqued

        resqued.enqueue_to(QUEUE, job.capitalize(), i)

    def connect_producer(self) -> None:
        import resqued

        resqued.connect(self.url)

    def stop(self) -> None:
        stop(self.procs, signal.SIGQUIT)
        self.procs.clear()


@dataclass
class RQ:
    """``rq worker-pool -n WORKERS`` with SimpleWorker (in process) or Worker (fork per job)."""

    client: redis.Redis
    url: str
    app_dir: Path
    workers: int = 2
    fork: bool = False
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    polls: int = 0

    poll_command = "zcard"

    @property
    def expected(self) -> int:
        return self.workers

    @property
    def worker_class(self) -> str:
        return "rq.worker.Worker" if self.fork else "rq.worker.SimpleWorker"

    def start(self) -> None:
        argv = ["-m", "rq.cli", "worker-pool", "-n", str(self.workers), "-w", self.worker_class]
        argv += ["-u", self.url, "--quiet", QUEUE]
        self.procs.append(start(argv, self.app_dir, self.url))

    def registered(self) -> int:
        return int(self.client.scard("rq:workers"))

    def processed(self) -> int:
        self.polls += 1
        return int(self.client.zcard(f"rq:finished:{QUEUE}"))

    def failed(self) -> int:
        return int(self.client.zcard(f"rq:failed:{QUEUE}"))

    def _queue(self) -> Queue:
        from rq import Queue

        return Queue(QUEUE, connection=self.client)

    def enqueue_bulk(self, job: str, n: int) -> None:
        """``n`` jobs of ``job_bodies.JOB``, one MULTI/EXEC (RQ's ``enqueue_many``)."""
        from rq import Queue

        datas = [Queue.prepare_data(f"job_bodies.{job}", args=(i,)) for i in range(n)]
        self._queue().enqueue_many(datas)

    def enqueue_one(self, job: str, i: int) -> None:
        self._queue().enqueue(f"job_bodies.{job}", i)

    def connect_producer(self) -> None:
        pass

    def stop(self) -> None:
        stop(self.procs, signal.SIGTERM)
        self.procs.clear()


Pool = Ours | RQ


def rq_version() -> str | None:
    """RQ's version, or None when the ``bench`` extra is not installed."""
    from importlib import metadata

    try:
        return metadata.version("rq")
    except metadata.PackageNotFoundError:
        return None


def require_rq() -> None:
    if rq_version() is None:
        raise BenchError("rq is not installed (pip install -e '.[bench]')")
