"""Fixtures: a real redis-server, a flushed client, an app directory, the real ``resqued``.

Tests under ``tests/e2e/`` start processes and are marked ``e2e`` here, so
``pytest -m "not e2e"`` is the fast unit run.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.append(str(Path(__file__).resolve().parents[1]))  # bench, for the helpers shared with it

from support import APPS, ROOT  # noqa: E402
from support.browser import browser  # noqa: E402, F401 (the browser tests' fixture)
from support.chaos import ROWS, table  # noqa: E402
from support.procs import Proc, descendants  # noqa: E402
from support.redis_server import RedisServer, pings  # noqa: E402

from resqued.errors import ResquedError  # noqa: E402
from resqued.resque.server import check_server  # noqa: E402

E2E_DIR = Path(__file__).resolve().parent / "e2e"


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    """The chaos matrix's table (tests/e2e/test_chaos.py), once every scenario ran."""
    rows = config.stash.get(ROWS, [])
    if rows:
        text = table(rows)
        path = Path(str(config.getoption("basetemp") or ".")) / "chaos-table.md"
        terminalreporter.write_sep("=", "chaos matrix")
        for line in text.splitlines():
            terminalreporter.write_line(line)
        if config.getoption("basetemp"):
            path.write_text(text + "\n")
            terminalreporter.write_line(f"(written to {path})")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if E2E_DIR in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """The session's server, chosen by ``RESQUED_TEST_SERVER`` (default: auto)."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        check_server(server.client())
    except ResquedError as exc:
        server.stop()
        pytest.exit(f"{server.command()[0]}: {exc}", 2)
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture
def r(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A client on a freshly flushed database."""
    client = redis_server.client()
    if not pings(client):  # a test may have stopped the server
        redis_server.start()
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    """A directory holding tests/support/apps/*.py (job modules), usable with -r and as cwd."""
    for src in APPS.glob("*.py"):
        shutil.copy(src, tmp_path / src.name)
    return tmp_path


@pytest.fixture
def resqued(tmp_path: Path, redis_url: str) -> Iterator[Callable[..., Proc]]:
    """Start the real ``resqued`` command: ``resqued("work", "-q", "high", env={...}, cwd=...)``.

    Everything started is killed (with its process group) at the end of the test.
    """
    started: list[Proc] = []

    def start(
        *args: str,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        redis: bool = True,
        app_on_path: bool = True,
    ) -> Proc:
        """``app_on_path=False``: the app is found only through the working directory."""
        log = tmp_path / f"resqued-{len(started)}.out"
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "REDIS_URL": redis_url, **(env or {})}
        app_path = str(cwd or tmp_path) if app_on_path else ""
        full_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (app_path, str(ROOT), full_env.get("PYTHONPATH", "")) if p
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
        # Job children run in process groups of their own: end every descendant by pid
        # (all of them started by this test), then the command's own group.
        family = [pid for pid, _, _ in descendants(proc.pid)] if proc.popen.poll() is None else []
        for pid in family:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.kill()
