"""Shared by the benchmarks: a throwaway redis-server, process start and stop, polling."""

from __future__ import annotations

import os
import re
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


class BenchError(Exception):
    """A benchmark could not be measured (a timeout, a failed job, a missing tool)."""


# What makes a row (or a part of the scale row) not measured, rather than stop the run.
ERRORS = (
    BenchError,
    OSError,
    ValueError,
    RuntimeError,
    redis.RedisError,
    subprocess.SubprocessError,
)


def text(value: bytes | str) -> str:
    """A reply from redis-py as text."""
    return value.decode() if isinstance(value, bytes) else value


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until(cond: Callable[[], object], timeout: float, what: str, step: float = 0.01) -> float:
    """Poll ``cond`` every ``step`` seconds; the time it became true (monotonic)."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:g}s waiting for {what}")
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
    args = ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp), "--save", ""]
    if _major(exe) >= 7:  # DEBUG POPULATE and DEBUG SLEEP, from this host only (scale row)
        args += ["--enable-debug-command", "local"]
    proc = subprocess.Popen(
        [exe, *args, "--appendonly", "no", "--logfile", ""],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port, client_name="bench")
    try:
        wait_until(lambda: _ping(client), 10, "redis-server")
        yield client, f"redis://127.0.0.1:{port}/0", tmp
    finally:
        client.close()
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


def _major(exe: str) -> int:
    """redis-server's major version (``Redis server v=7.0.15 ...``); 0 if unknown."""
    out = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout
    found = re.search(r"v=(\d+)\.", out)
    return int(found.group(1)) if found else 0


def _ping(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def env_for(cwd: Path, url: str) -> dict[str, str]:
    """The environment of every process a benchmark starts: its app dir and this checkout."""
    return {**os.environ, "REDIS_URL": url, "PYTHONPATH": f"{cwd}{os.pathsep}{ROOT}"}


def start(
    argv: list[str], cwd: Path, url: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``python ARGV`` in its own session, output discarded; ``env`` added to its own."""
    return subprocess.Popen(
        [PYTHON, *argv],
        cwd=cwd,
        env={**env_for(cwd, url), **(env or {})},
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def spawn(
    args: list[str], cwd: Path, url: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``python -m resqued.cli ARGS`` in its own session."""
    return start(["-m", "resqued.cli", *args], cwd, url, env)


def stop(
    procs: list[subprocess.Popen[bytes]], sig: int = signal.SIGQUIT, timeout: float = 20
) -> None:
    """Signal each process, wait with a deadline, then kill what is left of its session."""
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
            os.killpg(p.pid, signal.SIGKILL)  # the group we created with start_new_session
        except (ProcessLookupError, PermissionError):
            pass
        p.wait()


def children(pid: int) -> list[int]:
    """Direct children of ``pid``, from each of its threads' ``children`` file in /proc."""
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            out += [int(c) for c in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
        except OSError:
            continue
    return out


def tree(root: int) -> list[int]:
    """``root`` and every descendant pid."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            parents.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += parents.get(pid, [])
    return out


def title(pid: int) -> str:
    """A process's title as ``ps`` shows it (setproctitle rewrites the command line)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()
