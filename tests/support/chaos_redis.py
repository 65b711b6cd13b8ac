"""The Redis a chaos scenario runs against, and the faults done to it for real.

``Durable``: one redis-server with an append-only file fsynced on every write,
so a SIGKILL and a restart lose nothing it acknowledged; it is paused
(``CLIENT PAUSE``, ``DEBUG SLEEP``), filled (``maxmemory`` + ``noeviction``)
and restarted.  ``Failover``: a primary, a replica and three Sentinels
(tests/support/sentinel.py); the primary is killed once its writes are on the
replica, and the Sentinels promote the replica.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import redis

from resqued.resque.connection import connect
from support.redis_server import RedisServer, server_executable
from support.sentinel import SentinelSetup


def hold(seconds: float) -> None:
    """A fault lasts this long: its duration, not a wait for a condition."""
    time.sleep(seconds)


class DurableServer(RedisServer):
    """A redis-server whose every acknowledged write survives a SIGKILL (AOF, fsync always)."""

    def command(self) -> list[str]:
        cmd = super().command()
        at = cmd.index("--appendonly")
        cmd[at + 1] = "yes"
        cmd += ["--appendfsync", "always"]
        if _major(cmd[0]) >= 7:
            cmd += ["--enable-debug-command", "local"]  # DEBUG SLEEP (off by default since 7)
        return cmd


def _major(exe: str) -> int:
    out = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout
    found = re.search(r"v=(\d+)\.", out)
    return int(found.group(1)) if found else 0


class Durable:
    def __init__(self, tmp: Path) -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        self.server = DurableServer(tmp, executable=server_executable())
        self._client: redis.Redis | None = None

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()

    @property
    def url(self) -> str:
        return self.server.url

    def client(self) -> redis.Redis:
        if self._client is None:
            self._client = redis.Redis(port=self.server.port, socket_timeout=10)
        return self._client

    def reader(self) -> redis.Redis:
        """A client for the tally."""
        return self.client()

    def restart(self, down: float) -> None:
        """SIGKILL the server, leave it down ``down`` seconds, start it on the same port."""
        proc = self.server.proc
        assert proc is not None
        proc.kill()
        proc.wait(10)
        hold(down)
        self.server.start()

    def pause(self, seconds: float, mode: str = "ALL") -> None:
        """``CLIENT PAUSE``: every command (ALL) or every write (WRITE) waits; held to its end."""
        self.client().execute_command("CLIENT", "PAUSE", int(seconds * 1000), mode)
        hold(seconds + 0.3)

    def sleep(self, seconds: float) -> None:
        """``DEBUG SLEEP``: the server answers nobody for ``seconds``."""
        self.client().execute_command("DEBUG", "SLEEP", seconds)

    def full(self, seconds: float) -> None:
        """``maxmemory`` below what is used, with ``noeviction``: every write is refused (OOM)."""
        c = self.client()
        c.config_set("maxmemory-policy", "noeviction")
        c.config_set("maxmemory", 1)
        try:
            hold(seconds)
        finally:
            c.config_set("maxmemory", 0)


class Failover:
    def __init__(self, tmp: Path) -> None:
        self.setup = SentinelSetup(tmp)
        self._producer: redis.Redis | None = None

    def start(self) -> None:
        self.setup.start()

    def stop(self) -> None:
        self.setup.stop()

    @property
    def url(self) -> str:
        return self.setup.url()

    def client(self) -> redis.Redis:
        """The producer's client: it finds the primary through the Sentinels."""
        if self._producer is None:
            self._producer = connect(self.url)
        return self._producer

    def primary(self) -> redis.Redis:
        return self.setup.client()

    def reader(self) -> redis.Redis:
        """A client for the tally: the primary the Sentinels name now."""
        return self.primary()

    def promote(self) -> None:
        """Kill the primary once the replica has its writes; wait for the Sentinels' promotion.

        Writes are paused first and the replica acknowledges everything before the
        kill, so what Redis's asynchronous replication would lose is not counted
        against resqued; clients see the primary vanish mid-load.
        """
        c = self.primary()
        c.set("chaos:failover", "1")
        c.execute_command("CLIENT", "PAUSE", 5000, "WRITE")
        acked = c.execute_command("WAIT", 1, 5000)
        assert acked == 1, "the replica did not acknowledge the writes"
        self.setup.kill_primary()
