"""M masters x N workers on one Redis, each master as its own host: start, count, signal, stop.

Every master is ``resqued -n N --queue Q -r bench_jobs`` in its own session
with its own pidfile and log, and its own host name through
``$RESQUED_HOSTNAME`` (``bench-host-00``, ...), so that status, the dashboard
and the prunes see M hosts.  A resqued that does not know the variable yet
registers every master under this machine's name; ``hosts()`` tells which.
``stop()`` QUITs every master, waits with a deadline, then KILLs every
process each master started (its session, and job children in groups of
their own), so nothing outlives the benchmark, even on Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from bench._common import children, spawn, text, title, tree, wait_until
from bench.peers import QUEUE

HOST_VAR = "RESQUED_HOSTNAME"


def host_name(index: int) -> str:
    return f"bench-host-{index:02d}"


@dataclass
class Fleet:
    url: str
    app_dir: Path
    masters: int
    workers: int
    fork: bool = False
    queue: str = QUEUE
    metrics_port: int = 0  # master 0 serves Prometheus metrics here (0: none)
    name: str = "fleet"
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    clients_before: set[str] = field(default_factory=set)  # Redis client ids before start

    @property
    def expected(self) -> int:
        return self.masters * self.workers

    @property
    def mode(self) -> str:
        return "fork per job" if self.fork else "in process"

    def log_path(self, index: int) -> Path:
        return self.app_dir / "logs" / f"{self.name}-{index:02d}.log"

    def pidfile(self, index: int) -> Path:
        return self.app_dir / f"{self.name}-{index:02d}.pid"

    def start(self, client: redis.Redis | None = None) -> None:
        """Start every master (``client``: note the Redis clients connected before)."""
        if client is not None:
            self.clients_before = {str(c["id"]) for c in client.client_list()}
        (self.app_dir / "logs").mkdir(exist_ok=True)
        for m in range(self.masters):
            args = ["-n", str(self.workers), "--queue", self.queue, "-r", "bench_jobs"]
            args += ["-p", str(self.pidfile(m)), "-l", str(self.log_path(m)), "--redis", self.url]
            args += [] if self.fork else ["--no-fork"]
            if m == 0 and self.metrics_port:
                args += ["--metrics", f"127.0.0.1:{self.metrics_port}"]
            env = {HOST_VAR: host_name(m)}
            self.procs.append(spawn(args, self.app_dir, self.url, env))

    def wait_registered(self, client: redis.Redis, timeout: float) -> float:
        """Seconds until every worker is registered in Redis."""
        t0 = time.monotonic()
        for p in self.procs:
            if p.poll() is not None:
                raise RuntimeError(f"master {p.pid} exited with {p.returncode}: see its log")
        wait_until(
            lambda: client.scard("resque:workers") >= self.expected,
            timeout,
            f"{self.expected} workers of {self.masters} masters registered",
            step=0.1,
        )
        return time.monotonic() - t0

    def master_pids(self) -> list[int]:
        return [p.pid for p in self.procs if p.poll() is None]

    def worker_pids(self, masters: list[int] | None = None) -> list[int]:
        """Worker processes of every master, or of ``masters`` (its listeners' children)."""
        out: list[int] = []
        for master in self.master_pids() if masters is None else masters:
            for listener in children(master):
                if " listener #" in title(listener):
                    out += children(listener)
        return out

    def signal_all(self, sig: int, first: int = 0) -> None:
        """Signal every master (or the ``first`` ones) at once."""
        for p in self.procs[:first] if first else self.procs:
            if p.poll() is None:
                p.send_signal(sig)

    def stop(self, timeout: float = 60) -> None:
        """QUIT every master, wait up to ``timeout`` s, then KILL every process left."""
        everyone = self._everyone()
        self.signal_all(signal.SIGQUIT)
        deadline = time.monotonic() + timeout
        for p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        everyone |= self._everyone()
        for p in self.procs:
            _kill_group(p.pid)
        for pid, born in everyone:  # job children run in process groups of their own
            if _born(pid) == born:  # the same process, not a pid used again since
                _kill(pid)
        for p in self.procs:
            p.wait()
        self.procs.clear()

    def _everyone(self) -> set[tuple[int, int]]:
        """(pid, start time) of every process the masters started, themselves included."""
        pids = {pid for p in self.procs if p.poll() is None for pid in tree(p.pid)}
        return {(pid, _born(pid)) for pid in pids} - {(pid, 0) for pid in pids}


def _born(pid: int) -> int:
    """A process's start time in clock ticks (its identity with the pid); 0 once gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0
    return int(fields[19])


def hosts(client: redis.Redis) -> set[str]:
    """The host part of every registered worker id."""
    return {text(w).split(":", 1)[0] for w in client.smembers("resque:workers")}


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
