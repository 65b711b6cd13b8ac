"""The shipped container set-up with the master as PID 1 (issue 23, defect 3).

deploy/docker/Dockerfile runs its ``CMD`` (``resqued ... -p /tmp/resqued.pid``)
as the container's main process, and deploy/kubernetes/resqued.yaml stops it
with ``resqued quit-and-wait`` as its preStop hook.  Here that command runs as
pid 1 of a private PID namespace (``unshare --pid --fork --kill-child
--mount-proc``), the preStop hook runs inside the same namespace (``nsenter``,
as the kubelet's exec does), and the pidfile lives in a directory that outlives
the namespace, as a container's /tmp outlives ``docker restart``.  Every pid 1
these tests touch is a namespace's own, never the host's.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
from pathlib import Path

import pytest
import redis
import yaml
from support import ROOT
from support.pidns import Pid1
from support.procs import wait_for

DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
MANIFEST = ROOT / "deploy" / "kubernetes" / "resqued.yaml"
DEMO = ROOT / "examples" / "demo"
IMAGE_PIDFILE = "/tmp/resqued.pid"  # the Dockerfile's and the manifest's


def shipped_command() -> list[str]:
    """The Dockerfile's CMD (exec form)."""
    found = re.search(r"^CMD (\[.*\])$", DOCKERFILE.read_text(), re.MULTILINE)
    assert found, "the Dockerfile has no exec-form CMD"
    cmd: list[str] = json.loads(found.group(1))
    return cmd


def shipped_pre_stop() -> list[str]:
    docs = yaml.safe_load_all(MANIFEST.read_text())
    workers = next(d for d in docs if d["metadata"]["name"] == "resqued")
    container = workers["spec"]["template"]["spec"]["containers"][0]
    command: list[str] = container["lifecycle"]["preStop"]["exec"]["command"]
    return command


def here(cmd: list[str], pidfile: Path) -> list[str]:
    """A shipped command as it runs here: this checkout's ``resqued``, the test's pidfile."""
    script = Path(sys.executable).with_name("resqued")
    head = [str(script)] if script.exists() else [sys.executable, "-m", "resqued.cli"]
    assert cmd[0] == "resqued" and IMAGE_PIDFILE in cmd
    return head + [str(pidfile) if arg == IMAGE_PIDFILE else arg for arg in cmd[1:]]


@pytest.fixture
def image(tmp_path: Path) -> Path:
    """The image's /srv/app: the demo application (the Dockerfile's COPY examples/demo/)."""
    app = tmp_path / "srv-app"
    app.mkdir()
    for src in DEMO.iterdir():
        if src.is_file():
            (app / src.name).write_bytes(src.read_bytes())
    return app


class Container:
    """Starts of one container: each ``start`` is a fresh PID namespace, the pidfile stays."""

    def __init__(self, app: Path, state: Path, redis_url: str) -> None:
        self.app, self.state, self.redis_url = app, state, redis_url
        self.pidfile = state / "resqued.pid"
        self.runs: list[Pid1] = []

    def start(self) -> Pid1:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "REDIS_URL": self.redis_url}
        env["PYTHONPATH"] = str(ROOT)
        log = self.state / f"run-{len(self.runs)}.log"
        run = Pid1(here(shipped_command(), self.pidfile), self.app, env, log)
        self.runs.append(run)
        wait_for(lambda: "is ready" in run.output() or run.popen.poll() is not None, 60, "ready")
        assert run.popen.poll() is None, run.output()
        wait_for(lambda: self.pidfile.exists(), 10, "the pidfile")
        return run

    def pre_stop(self, run: Pid1) -> int:
        """The manifest's preStop hook, inside the container; its exit status."""
        done = run.run_inside(here(shipped_pre_stop(), self.pidfile), timeout=150)
        assert "Traceback" not in done.stderr, done.stderr
        # 0: it saw the master exit; -9: pid 1 exited first and the namespace went
        # with it (as a container's exec does), after the graceful wait.
        assert done.returncode in (0, -signal.SIGKILL), (done.returncode, done.stderr)
        return done.returncode

    def stop(self) -> None:
        for run in self.runs:
            run.kill()


@pytest.fixture
def container(image: Path, tmp_path: Path, redis_url: str):
    state = tmp_path / "container-tmp"  # the container's /tmp: it survives restarts
    state.mkdir()
    c = Container(image, state, redis_url)
    yield c
    c.stop()


def push_report(r: redis.Redis, seconds: float) -> None:
    r.sadd("resque:queues", "low")
    r.rpush("resque:queue:low", json.dumps({"class": "Reports::Monthly", "args": [seconds]}))


def working(r: redis.Redis) -> bool:
    """A worker has a job (Resque's ``worker:<id>`` record)."""
    return any(r.get(b"resque:worker:" + wid) for wid in r.smembers("resque:workers"))


def pidfile_identity(pidfile: Path) -> tuple[str, str]:
    return pidfile.read_text(), Path(f"{pidfile}.start").read_text()


def test_prestop_waits_for_a_pid_1_master_and_the_container_starts_again(container, r):
    first = container.start()
    assert container.pidfile.read_text() == "1\n"  # the master is pid 1 in its namespace
    push_report(r, 3)
    wait_for(lambda: working(r), 20, "the report running")
    container.pre_stop(first)
    wait_for(lambda: first.popen.poll() is not None, 10, "the master gone with the hook")
    assert first.wait() == 0, first.output()
    assert "monthly report done after 3s" in first.output()  # the running job finished
    assert int(r.get("resque:stat:processed") or 0) == 1
    assert r.llen("resque:failed") == 0
    assert not container.pidfile.exists(), "the pidfile was left behind"
    assert not Path(f"{container.pidfile}.start").exists()

    again = container.start()  # docker restart after the graceful stop
    assert container.pidfile.read_text() == "1\n"
    container.pre_stop(again)
    assert again.wait() == 0, again.output()
    assert not container.pidfile.exists()


def test_a_restart_over_the_pidfile_of_a_killed_pid_1(container, r):
    crashed = container.start()
    before = pidfile_identity(container.pidfile)
    os.kill(crashed.host_pid(), signal.SIGKILL)  # docker stop's KILL after its timeout
    assert crashed.wait() != 0  # (unshare reports a killed child as 1 or as -9)
    assert pidfile_identity(container.pidfile) == before  # left behind, naming pid 1

    restarted = container.start()  # a new namespace whose pid 1 starts over the stale file
    out = restarted.output()
    assert "names pid 1, ours, but an earlier process wrote it; taking it over" in out, out
    now = pidfile_identity(container.pidfile)
    assert now[0] == "1\n" and now[1] != before[1]  # the new pid 1's own identity
    push_report(r, 1)
    wait_for(lambda: working(r), 20, "the report running")
    container.pre_stop(restarted)
    assert restarted.wait() == 0, restarted.output()
    assert int(r.get("resque:stat:processed") or 0) == 1 and r.llen("resque:failed") == 0
    assert not container.pidfile.exists()
