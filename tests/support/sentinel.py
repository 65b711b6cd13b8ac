"""A Redis Sentinel setup on loopback: a primary, a replica and three Sentinels.

``SentinelSetup(tmp, password=...)`` starts everything on free ports in
``tmp`` and waits until every Sentinel knows the primary, the replica and the
other Sentinels.  ``url`` is the ``redis+sentinel://`` URL for resqued;
``kill_primary()`` SIGKILLs the primary and waits for the failover.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import redis

from support.procs import wait_for
from support.redis_server import RedisServer, free_port, pings, server_executable

SERVICE = "mymaster"


class Replica(RedisServer):
    """A redis-server replicating ``primary``."""

    def __init__(self, tmp: Path, primary: RedisServer) -> None:
        super().__init__(tmp, primary.password)
        self.primary = primary

    def command(self) -> list[str]:
        cmd = [*super().command(), "--replicaof", "127.0.0.1", str(self.primary.port)]
        if self.password:
            cmd += ["--masterauth", self.password]
        return cmd


class SentinelProcess:
    """``redis-server sentinel.conf --sentinel`` watching the primary."""

    def __init__(self, tmp: Path, primary: RedisServer) -> None:
        self.dir = tmp
        self.port = free_port()
        self.conf = tmp / "sentinel.conf"
        lines = [
            f"port {self.port}",
            "bind 127.0.0.1",
            f"dir {tmp}",
            f"sentinel monitor {SERVICE} 127.0.0.1 {primary.port} 2",
            f"sentinel down-after-milliseconds {SERVICE} 1000",
            f"sentinel failover-timeout {SERVICE} 10000",
            f"sentinel parallel-syncs {SERVICE} 1",
        ]
        if primary.password:
            lines.append(f"sentinel auth-pass {SERVICE} {primary.password}")
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen | None = None

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=5)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [server_executable(), str(self.conf), "--sentinel"],
            stdout=open(self.dir / "sentinel.log", "w"),  # noqa: SIM115 - kept by the child
            stderr=subprocess.STDOUT,
        )
        wait_for(lambda: pings(self.client()), 10, "a sentinel to start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class SentinelSetup:
    def __init__(self, tmp: Path, password: str | None = None) -> None:
        (tmp / "primary").mkdir(parents=True)
        (tmp / "replica").mkdir()
        self.primary = RedisServer(tmp / "primary", password)
        self.replica = Replica(tmp / "replica", self.primary)
        self.sentinels = []
        for n in range(3):
            (tmp / f"sentinel{n}").mkdir()
            self.sentinels.append(SentinelProcess(tmp / f"sentinel{n}", self.primary))
        self.password = password

    def url(self, db: int = 0) -> str:
        from urllib.parse import quote

        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{auth}{hosts}/{SERVICE}/{db}"

    def start(self) -> None:
        self.primary.start()
        self.replica.start()
        replica = self.replica.client()
        wait_for(
            lambda: replica.info("replication").get("master_link_status") == "up",
            20,
            "the replica to sync",
        )
        for s in self.sentinels:
            s.start()
        wait_for(self._settled, 30, "every sentinel to see the replica and the others")

    def _settled(self) -> bool:
        for s in self.sentinels:
            c = s.client()
            if len(c.sentinel_slaves(SERVICE)) < 1 or len(c.sentinel_sentinels(SERVICE)) < 2:
                return False
        return True

    def primary_port(self) -> int:
        """The primary's port as the Sentinels now see it (all of them agreeing)."""
        ports = {
            int(s.client().sentinel_get_master_addr_by_name(SERVICE)[1]) for s in self.sentinels
        }
        return ports.pop() if len(ports) == 1 else 0

    def client(self) -> redis.Redis:
        """A client on the current primary."""
        return redis.Redis(port=self.primary_port(), password=self.password)

    def kill_primary(self, timeout: float = 60) -> None:
        """SIGKILL the primary; return once the replica is the primary every Sentinel names."""
        old = self.primary
        assert old.proc is not None
        old.proc.kill()
        old.proc.wait(10)

        def promoted() -> bool:
            if self.primary_port() != self.replica.port:
                return False
            return self.replica.client().info("replication").get("role") == "master"

        wait_for(promoted, timeout, "the Sentinels to promote the replica")
        self.primary, self.replica = self.replica, old

    def stop(self) -> None:
        for s in self.sentinels:
            s.stop()
        self.replica.stop()
        self.primary.stop()
