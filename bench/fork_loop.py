"""The bare fork limit: fork, let the child ``_exit``, wait; nothing else.

Run as ``python -m bench.fork_loop N`` in the app directory, a process imports
what a worker has imported (redis-py with a live connection, every resqued
module, the job module), prints ``ready``, waits for a line on stdin, then
forks ``N`` times and prints the seconds it took. :func:`measure` runs
several at once, as many as the workers it is compared with.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys
import time
from pathlib import Path

from bench._common import PYTHON, BenchError, env_for


def _preload() -> None:
    import redis

    import resqued

    for mod in pkgutil.walk_packages(resqued.__path__, "resqued."):
        # a worker's modules: not the entry points (__main__), not the extras' (web)
        if mod.name.endswith("__main__") or mod.name.startswith("resqued.web"):
            continue
        importlib.import_module(mod.name)
    importlib.import_module("bench_jobs")
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    client.ping()
    globals()["_client"] = client  # keep the connection open, as a worker does


def loop(n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
    return time.perf_counter() - start


def main() -> None:
    n = int(sys.argv[1])
    _preload()
    print("ready", flush=True)
    sys.stdin.readline()
    print(f"{loop(n)!r}", flush=True)


def measure(app_dir: Path, url: str, processes: int, forks: int) -> float:
    """Forks per second of ``processes`` loops running together, ``forks`` each."""
    procs = [
        subprocess.Popen(
            [PYTHON, "-m", "bench.fork_loop", str(forks)],
            cwd=app_dir,
            env=env_for(app_dir, url),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    try:
        for p in procs:
            assert p.stdout is not None
            if p.stdout.readline().strip() != "ready":
                raise BenchError("the bare fork loop did not start")
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        seconds = []
        for p in procs:
            assert p.stdout is not None
            line = p.stdout.readline()
            if not line.strip():
                raise BenchError("a bare fork loop exited before reporting")
            seconds.append(float(line))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
    return processes * forks / max(seconds)


if __name__ == "__main__":
    main()
