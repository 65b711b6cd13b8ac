"""Shared by the benchmarks: a throwaway redis-server, process helpers, a table printer."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(cond: Callable[[], object], timeout: float, what: str, step: float = 0.01) -> float:
    """Poll ``cond`` every ``step`` seconds; the time it became true (monotonic)."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise SystemExit(f"benchmark: timed out after {timeout}s waiting for {what}")
        time.sleep(step)
    return time.monotonic()


@contextmanager
def redis_server() -> Iterator[tuple[redis.Redis, str, Path]]:
    """(client, url, temp dir) of a fresh redis-server on a free loopback port."""
    exe = shutil.which("redis-server")
    if not exe:
        raise SystemExit("benchmark: redis-server is not installed (apt-get install redis-server)")
    tmp = Path(tempfile.mkdtemp(prefix="resqued-bench-"))
    port = free_port()
    proc = subprocess.Popen(
        [
            exe,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(tmp),
            "--save",
            "",
            "--appendonly",
            "no",
            "--logfile",
            "",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    try:
        wait_until(lambda: _ping(client), 10, "redis-server")
        yield client, f"redis://127.0.0.1:{port}/0", tmp
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


def _ping(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def spawn(args: list[str], cwd: Path, url: str) -> subprocess.Popen:
    """Start ``python -m resqued.cli ARGS`` in its own process group."""
    env = {**os.environ, "REDIS_URL": url, "PYTHONPATH": f"{cwd}{os.pathsep}{ROOT}"}
    return subprocess.Popen(
        [PYTHON, "-m", "resqued.cli", *args],
        cwd=cwd,
        env=env,
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(procs: list[subprocess.Popen], sig: int = signal.SIGQUIT, timeout: float = 20) -> None:
    """Signal each process, wait with a deadline, then kill its whole group."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(sig)
    deadline = time.monotonic() + timeout
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        p.wait()


def table(headers: list[str], rows: list[list[object]]) -> str:
    """A Markdown table."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"  # noqa: E731
    out = [line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    return "\n".join(out + [line(r) for r in cells])
