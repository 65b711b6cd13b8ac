"""Test harness: a real redis-server on a free loopback port, in a throwaway directory."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond: Callable[[], object], timeout: float = 15.0, what: str = "condition") -> object:
    """Poll ``cond`` until it returns something truthy; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(delay)  # polling step inside a deadline, not a bare sleep
        delay = min(delay * 2, 0.1)


class RedisServer:
    def __init__(self, tmp: Path) -> None:
        self.dir = tmp
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        exe = shutil.which("redis-server")
        if not exe:
            pytest.exit("redis-server is not installed (apt-get install redis-server)", 2)
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
                "--daemonize",
                "no",
                "--logfile",
                "",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        wait_for(lambda: _pings(client), 10, "redis-server to start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture
def r(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A client on a freshly flushed database."""
    client = redis.Redis(port=redis_server.port)
    if not _pings(client):  # a test may have stopped the server
        redis_server.start()
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    """A directory holding tests/apps/*.py (job modules), usable with -r and as cwd."""
    for src in (ROOT / "tests" / "apps").glob("*.py"):
        shutil.copy(src, tmp_path / src.name)
    return tmp_path


class Proc:
    """A started ``resqued`` command: its Popen, its log file, and helpers to signal it."""

    def __init__(self, popen: subprocess.Popen, log: Path) -> None:
        self.popen = popen
        self.log = log
        self.pid = popen.pid

    def signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait(self, timeout: float = 20.0) -> int:
        return self.popen.wait(timeout)

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(10)


@pytest.fixture
def resqued(tmp_path: Path, redis_url: str) -> Iterator[Callable[..., Proc]]:
    """Start the real ``resqued`` command: ``resqued("work", "-q", "high", env={...}, cwd=...)``.

    Everything started is killed (with its process group) at the end of the test.
    """
    started: list[Proc] = []

    def start(
        *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, redis: bool = True
    ) -> Proc:
        log = tmp_path / f"resqued-{len(started)}.out"
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "REDIS_URL": redis_url, **(env or {})}
        full_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(cwd or tmp_path), str(ROOT), full_env.get("PYTHONPATH", "")) if p
        )
        cmd = [sys.executable, "-m", "resqued.cli", *args]
        if redis and "--redis" not in args:
            cmd += ["--redis", redis_url]
        with open(log, "wb") as out:
            popen = subprocess.Popen(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=cwd or tmp_path,
                env=full_env,
                start_new_session=True,
            )
        proc = Proc(popen, log)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.kill()


def ps() -> list[tuple[int, int, str]]:
    """(pid, ppid, title) of every process."""
    out = subprocess.run(
        ["ps", "-A", "-o", "pid=,ppid=,args="], capture_output=True, text=True, check=True
    ).stdout
    rows = []
    for line in out.splitlines():
        pid, ppid, args = (line.strip().split(None, 2) + [""])[:3]
        rows.append((int(pid), int(ppid), args))
    return rows


def descendants(root: int) -> list[tuple[int, int, str]]:
    """Every process below ``root`` (not including it), as (pid, ppid, title)."""
    rows = ps()
    found, frontier = [], {root}
    while frontier:
        nxt = {p for p, pp, _ in rows if pp in frontier}
        found += [row for row in rows if row[0] in nxt]
        frontier = nxt
    return found
