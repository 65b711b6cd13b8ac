"""A real redis-server on a free loopback port, in a throwaway directory."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import pytest
import redis

from support.procs import wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def server_executable() -> str:
    exe = shutil.which("redis-server")
    if not exe:
        pytest.exit("redis-server is not installed (apt-get install redis-server)", 2)
    return exe


class RedisServer:
    """``redis-server`` on 127.0.0.1 and a free port; no persistence; optional password."""

    def __init__(self, tmp: Path, password: str | None = None) -> None:
        self.dir = tmp
        self.port = free_port()
        self.password = password
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, password=self.password)

    def command(self) -> list[str]:
        cmd = [
            server_executable(),
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
        ]
        if self.password:
            cmd += ["--requirepass", self.password]
        return cmd

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = self.client()
        wait_for(lambda: pings(client), 10, "redis-server to start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


# A redis-server of a test's own (to stop, restart, or start with a password).
ExtraRedis = RedisServer
