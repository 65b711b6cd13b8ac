"""Starting the compat commands as their tools' READMEs start them, and cleaning up after them.

``compat("resque-pool", "--daemon", "--environment", "production", cwd=app)`` runs
``python -m resqued.cli.resque_pool ...`` (the ``resque-pool`` console script's
module; a name not in MODULES, ``resque_starter`` say, runs the installed script) in the app directory with ``$REDIS_URL`` set, as those tools take Redis
from their environment.  Everything started is killed at the end of the test:
the command and every process below it, plus any pid given to ``adopt`` (a
daemonized master, read from its pidfile), checked to be one of ours first.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from support import ROOT
from support.procs import Proc, descendants, ps

MODULES = {
    "resque-pool": "resqued.cli.resque_pool",
    "resque-starter": "resqued.cli.resque_starter",
    "resqued": "resqued.cli",
}


# Settings of the tools' environments that a test sets itself when it wants them.
IGNORED = (
    "RACK_ENV",
    "RAILS_ENV",
    "RESQUE_ENV",
    "RESQUE_POOL_CONFIG",
    "RESQUE_POOL_SETUP",
    "TERM_CHILD",
    "QUEUES",
    "QUEUE",
    "INTERVAL",
    "VERBOSE",
    "LOGGING",
    "VVERBOSE",
    "COUNT",
    "WORKER_COUNT",
    "THREAD_COUNT",
    "JOBS_PER_FORK",
    "BACKGROUND",
    "PIDFILE",
    "DYNO",
)


def command_line(command: str) -> list[str]:
    """``python -m`` the command's module, or (a name not in MODULES) its console script."""
    if command in MODULES:
        return [sys.executable, "-m", MODULES[command]]
    script = Path(sys.executable).parent / command
    if not script.exists():
        pytest.fail(f"console script {command} is not installed (pip install -e . installs it)")
    return [str(script)]


class Starter:
    def __init__(self, tmp_path: Path, redis_url: str) -> None:
        self.tmp_path = tmp_path
        self.redis_url = redis_url
        self.started: list[Proc] = []
        self.adopted: list[int] = []

    def __call__(
        self, command: str, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> Proc:
        log = self.tmp_path / f"{command}-{len(self.started)}.out"
        where = cwd or self.tmp_path
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "REDIS_URL": self.redis_url}
        for name in IGNORED:
            full_env.pop(name, None)
        full_env.update(env or {})
        full_env["PYTHONPATH"] = os.pathsep.join([str(where), str(ROOT)])
        with open(log, "wb") as out:
            popen = subprocess.Popen(
                [*command_line(command), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=where,
                env=full_env,
                start_new_session=True,
            )
        proc = Proc(popen, log)
        self.started.append(proc)
        return proc

    def adopt(self, pid: int) -> int:
        """Clean up ``pid`` (a daemonized master) and what runs below it at the end."""
        self.adopted.append(pid)
        return pid

    def cleanup(self) -> None:
        doomed: list[int] = []
        for root in [p.pid for p in self.started] + self.adopted:
            doomed += [root] + [pid for pid, _, _ in descendants(root)]
        titles = {pid: title for pid, _, title in ps()}
        for pid in doomed:
            title = titles.get(pid, "")
            if pid > 1 and (title.startswith(("resque", sys.executable)) or "python" in title):
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        for proc in self.started:
            proc.kill()


@pytest.fixture
def compat(tmp_path: Path, redis_url: str) -> Iterator[Starter]:
    starter = Starter(tmp_path, redis_url)
    yield starter
    starter.cleanup()


def workers(root: int) -> list[tuple[int, str]]:
    """(pid, title) of the Resque workers below ``root`` (job children excluded)."""
    rows = [(pid, title) for pid, _, title in descendants(root)]
    return [(pid, t) for pid, t in rows if t.startswith("resque-") and "Processing" not in t]


def titles_below(root: int) -> list[str]:
    return [t for _, _, t in descendants(root)]


def waiting(root: int, queues: str, n: int) -> Callable[[], bool]:
    """A condition: exactly ``n`` workers below ``root`` wait for ``queues``.

    A title may end with the guard rails that apply (``[1 job]``, docs/guard-rails.md).
    """
    title = re.compile(rf".*Waiting for {re.escape(queues)}( \[[^]]*\])?")
    return lambda: sum(bool(title.fullmatch(t)) for _, t in workers(root)) == n


def pgid(pid: int) -> int:
    return os.getpgid(pid)
