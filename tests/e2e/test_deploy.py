"""Zero-downtime operations, end to end: HUP reloads, USR2 re-exec, hot swap, quit-and-wait."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
from support import ROOT
from support.cli import run
from support.procs import ps, wait_for

from resqued.process.proc import alive

JOB_MODULE = """
import os, redis, resqued
VERSION = "{version}"
r = redis.Redis.from_url(os.environ["REDIS_URL"])
if os.path.exists(os.path.join(os.path.dirname(__file__), "slow-import")):
    import time; time.sleep(3)  # a slow application boot, on purpose

@resqued.job("Flow")
class Flow:
    queue = "flow"

    @staticmethod
    def perform(i):
        pipe = r.pipeline(transaction=False)
        pipe.rpush("ran", f"{{i}}:{{VERSION}}")
        pipe.incr("count")
        pipe.execute()
"""


def holds(cond, seconds: float, message: str) -> None:
    """Assert ``cond`` stays true for ``seconds`` (checked every 50 ms)."""
    tick = threading.Event()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert cond(), message
        tick.wait(0.05)


def write_app(app_dir: Path, version: str, workers: int, extra: str = "") -> None:
    (app_dir / "flow_jobs.py").write_text(JOB_MODULE.format(version=version))
    (app_dir / "conf.py").write_text(
        f'worker_processes({workers})\nqueue("flow")\ninterval(1)\n{extra}'
    )


def worker_procs(master_pid: int) -> list[tuple[int, int, str]]:
    """Worker processes (not job children) under ``master_pid``: children of its listeners."""
    rows = ps()
    listeners = {p for p, pp, t in rows if pp == master_pid and " listener #" in t}
    return [(p, pp, t) for p, pp, t in rows if pp in listeners and t.startswith("resque-")]


def listener_numbers(master_pid: int) -> list[str]:
    return [
        t.split(" listener #")[1].split()[0]
        for p, pp, t in ps()
        if pp == master_pid and " listener #" in t
    ]


def start_master(resqued, app_dir: Path, *extra: str, env: dict | None = None):
    pid_path = app_dir / "master.pid"
    m = resqued(
        "-c",
        str(app_dir / "conf.py"),
        "-r",
        "flow_jobs",
        "-p",
        str(pid_path),
        *extra,
        cwd=app_dir,
        env=env,
    )
    wait_for(lambda: pid_path.exists() and m.output().count("is ready") >= 1, 20, "master ready")
    return m, pid_path


def push(r: redis.Redis, i: int) -> None:
    pipe = r.pipeline(transaction=False)
    pipe.sadd("resque:queues", "flow")
    pipe.rpush("resque:queue:flow", json.dumps({"class": "Flow", "args": [i]}))
    pipe.execute()


class Producer(threading.Thread):
    """Enqueues Flow jobs with increasing ids at a steady rate until stopped."""

    def __init__(self, r: redis.Redis, rate: float = 80.0) -> None:
        super().__init__(daemon=True)
        self.r, self.rate, self.sent = r, rate, 0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(1 / self.rate):
            push(self.r, self.sent)
            self.sent += 1


class Sampler(threading.Thread):
    """Samples live workers (ps) and the pidfile's master every few milliseconds."""

    def __init__(self, master_pid: int, pid_path: Path) -> None:
        super().__init__(daemon=True)
        self.master_pid, self.pid_path = master_pid, pid_path
        self.counts: list[tuple[float, int]] = []
        self.bad_pidfile: list[str] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(0.02):
            self.counts.append((time.monotonic(), len(worker_procs(self.master_pid))))
            try:
                pid = int(self.pid_path.read_text())
                if pid != self.master_pid or not alive(pid):
                    self.bad_pidfile.append(f"pidfile names {pid}, master is {self.master_pid}")
            except (OSError, ValueError) as exc:
                self.bad_pidfile.append(repr(exc))

    def peak(self, since: float = 0.0, until: float = float("inf")) -> int:
        return max((n for t, n in self.counts if since <= t <= until), default=0)


def reload_done(m, master_pid: int, listener: int, workers: int):
    """True once every worker of ``master_pid`` belongs to listener #``listener``."""

    def check() -> bool:
        if listener_numbers(master_pid) != [str(listener)]:
            return False
        return len(worker_procs(master_pid)) == workers

    return check


def test_jobs_keep_flowing_through_reloads_and_reexecs(resqued, app_dir, r):
    write_app(app_dir, "v1", 3)
    m, pid_path = start_master(resqued, app_dir)
    wait_for(lambda: len(worker_procs(m.pid)) == 3, 15, "3 workers")
    sampler = Sampler(m.pid, pid_path)
    producer = Producer(r)
    sampler.start()
    producer.start()
    first_version_from: dict[str, int] = {}
    try:
        wait_for(lambda: int(r.get("count") or 0) > 50, 15, "jobs flowing")
        phase1_end = time.monotonic()

        # HUP 1: new code, one more worker.
        write_app(app_dir, "v2", 4)
        m.signal(signal.SIGHUP)
        wait_for(reload_done(m, m.pid, 2, 4), 20, "reload to listener #2")
        first_version_from["v2"] = producer.sent

        # HUP 2: new code and a changed queue set.
        write_app(app_dir, "v3", 4, 'queue("other", 1)\n')
        m.signal(signal.SIGHUP)
        wait_for(reload_done(m, m.pid, 3, 4), 20, "reload to listener #3")
        first_version_from["v3"] = producer.sent

        # USR2 twice: same master pid, same workers.
        before = sorted(p for p, _, _ in worker_procs(m.pid))
        for n in (1, 2):
            m.signal(signal.SIGUSR2)
            wait_for(lambda n=n: m.output().count("took over") >= n, 30, f"re-exec {n}")
        target = producer.sent  # jobs keep flowing: everything sent so far gets done
        wait_for(lambda: int(r.get("count") or 0) >= target, 60, "jobs after USR2")
        assert sorted(p for p, _, _ in worker_procs(m.pid)) == before
        assert int(pid_path.read_text()) == m.pid

        # HUP 3 after the re-execs: the new master image still reloads.
        write_app(app_dir, "v4", 4)
        m.signal(signal.SIGHUP)
        wait_for(reload_done(m, m.pid, 4, 4), 20, "reload to listener #4")
        first_version_from["v4"] = producer.sent
        wait_for(lambda: int(r.get("count") or 0) > first_version_from["v4"] + 20, 60, "v4 jobs")
    finally:
        producer.halt.set()
        producer.join()
    total = producer.sent
    wait_for(lambda: int(r.get("count") or 0) >= total, 90, f"all {total} jobs done")
    sampler.halt.set()
    sampler.join()

    ran = [entry.decode().split(":") for entry in r.lrange("ran", 0, -1)]
    ids = [int(i) for i, _ in ran]
    assert len(ids) == total and sorted(ids) == list(range(total)), "every job exactly once"
    version_of = {int(i): v for i, v in ran}
    for version, start in first_version_from.items():
        old = [i for i in range(start, total) if version_of[i] < version]
        assert not old, f"jobs enqueued after the {version} reload ran old code: {old[:5]}"
    assert sampler.peak(until=phase1_end) <= 3
    assert sampler.peak() <= 4, "more workers than configured during a reload"
    assert not sampler.bad_pidfile, sampler.bad_pidfile[:3]
    assert r.llen("resque:failed") == 0
    m.signal(signal.SIGQUIT)
    assert m.wait(30) == 0


def test_hup_with_broken_config_keeps_workers(resqued, app_dir, r):
    write_app(app_dir, "v1", 2)
    m, _ = start_master(resqued, app_dir)
    wait_for(lambda: len(worker_procs(m.pid)) == 2, 15, "2 workers")
    before = sorted(p for p, _, _ in worker_procs(m.pid))
    (app_dir / "conf.py").write_text("worker_processes(2)\nqueue('flow', 'lots%')\n")
    m.signal(signal.SIGHUP)
    wait_for(lambda: "reload failed" in m.output(), 10, "reload failure logged")
    assert "conf.py:2" in m.output()
    push(r, 1)
    wait_for(lambda: r.get("count") == b"1", 10, "job processed by the old workers")
    assert sorted(p for p, _, _ in worker_procs(m.pid)) == before


def test_hup_with_broken_app_keeps_workers(resqued, app_dir, r):
    write_app(app_dir, "v1", 2)
    m, _ = start_master(resqued, app_dir)
    wait_for(lambda: len(worker_procs(m.pid)) == 2, 15, "2 workers")
    before = sorted(p for p, _, _ in worker_procs(m.pid))
    (app_dir / "flow_jobs.py").write_text("raise ImportError('release is broken')\n")
    m.signal(signal.SIGHUP)
    wait_for(lambda: "reload failed" in m.output(), 15, "listener failure logged")
    assert "release is broken" in m.output()
    push(r, 1)
    wait_for(lambda: r.get("count") == b"1", 10, "job processed by the old workers")
    assert sorted(p for p, _, _ in worker_procs(m.pid)) == before


def test_usr2_with_broken_release_keeps_old_master(resqued, app_dir, r):
    write_app(app_dir, "v1", 2)
    m, pid_path = start_master(resqued, app_dir)
    wait_for(lambda: len(worker_procs(m.pid)) == 2, 15, "2 workers")
    before = sorted(p for p, _, _ in worker_procs(m.pid))
    shadow = app_dir / "resqued"  # first on the path: the "new release" of resqued itself
    shadow.mkdir()
    (shadow / "__init__.py").write_text("this is not python\n")
    m.signal(signal.SIGUSR2)
    wait_for(lambda: "re-exec cancelled" in m.output(), 30, "preflight failure logged")
    (shadow / "__init__.py").unlink()
    shadow.rmdir()
    assert "took over" not in m.output()
    push(r, 1)
    wait_for(lambda: r.get("count") == b"1", 10, "job processed")
    assert sorted(p for p, _, _ in worker_procs(m.pid)) == before
    assert int(pid_path.read_text()) == m.pid
    m.signal(signal.SIGHUP)  # the master still obeys signals
    wait_for(reload_done(m, m.pid, 2, 2), 20, "reload after a cancelled re-exec")


@pytest.mark.parametrize("hang", ["release", "before_exec"])
def test_usr2_preflight_gives_up_after_the_boot_timeout(resqued, app_dir, r, hang):
    """A release that hangs on import, or a before_exec hook that hangs: the re-exec is
    cancelled after --boot-timeout (default 60 s, as docs/signals.md says), not later."""
    write_app(app_dir, "v1", 1)
    m, pid_path = start_master(resqued, app_dir, "--boot-timeout", "6")
    wait_for(lambda: len(worker_procs(m.pid)) == 1, 15, "1 worker")
    before = sorted(p for p, _, _ in worker_procs(m.pid))
    if hang == "release":  # the new release's resqued itself never gets to its check
        shadow = app_dir / "resqued"
        shadow.mkdir()
        (shadow / "__init__.py").write_text("import time\ntime.sleep(600)\n")
    else:
        write_app(app_dir, "v1", 1, "@before_exec\ndef slow():\n    time.sleep(600)\n")
        conf = app_dir / "conf.py"
        conf.write_text("import time\n" + conf.read_text())
    sent = time.monotonic()
    m.signal(signal.SIGUSR2)
    wait_for(lambda: "re-exec cancelled" in m.output(), 40, "the preflight given up")
    took = time.monotonic() - sent
    assert took < 30, f"the preflight ran {took:.0f}s with --boot-timeout 6"
    assert "still running after" in m.output() and "took over" not in m.output()
    assert sorted(p for p, _, _ in worker_procs(m.pid)) == before
    assert int(pid_path.read_text()) == m.pid
    m.signal(signal.SIGQUIT)
    assert m.wait(30) == 0


def test_hup_while_new_listener_boots(resqued, app_dir, r):
    write_app(app_dir, "v1", 2)
    m, pid_path = start_master(resqued, app_dir)
    wait_for(lambda: len(worker_procs(m.pid)) == 2, 15, "2 workers")
    sampler = Sampler(m.pid, pid_path)
    sampler.start()
    (app_dir / "slow-import").write_text("")
    m.signal(signal.SIGHUP)
    wait_for(lambda: "2" in listener_numbers(m.pid), 10, "listener #2 booting")
    m.signal(signal.SIGHUP)
    wait_for(lambda: "which is still booting" in m.output(), 10, "booting listener dropped")
    (app_dir / "slow-import").unlink()
    wait_for(reload_done(m, m.pid, 3, 2), 20, "listener #3 took over")
    sampler.halt.set()
    sampler.join()
    assert sampler.peak() <= 2
    push(r, 1)
    wait_for(lambda: r.get("count") == b"1", 10, "job processed")


def test_hot_swap_takes_over_without_a_gap(resqued, app_dir, r):
    write_app(app_dir, "v1", 2)
    old, pid_path = start_master(resqued, app_dir)
    wait_for(lambda: len(worker_procs(old.pid)) == 2, 15, "old workers")
    write_app(app_dir, "v2", 2)
    new = resqued(
        "-c",
        str(app_dir / "conf.py"),
        "-r",
        "flow_jobs",
        "-p",
        str(pid_path),
        "--hot-swap",
        cwd=app_dir,
    )
    wait_for(lambda: old.popen.poll() is not None, 20, "old master exits")
    assert old.popen.returncode == 0
    assert int(pid_path.read_text()) == new.pid
    assert len(worker_procs(new.pid)) == 2
    push(r, 7)
    wait_for(lambda: r.lrange("ran", 0, -1) == [b"7:v2"], 10, "new master processes")


def test_quit_and_wait(resqued, app_dir, r, redis_url):
    write_app(app_dir, "v1", 1)
    m, pid_path = start_master(resqued, app_dir)
    wait_for(lambda: len(worker_procs(m.pid)) == 1, 15, "worker")
    done = run("quit-and-wait", str(pid_path), "--grace-period", "20")
    assert done.returncode == 0, done.stdout + done.stderr
    assert m.popen.poll() is not None
    gone = run("quit-and-wait", str(pid_path))
    assert gone.returncode == 0 and "no master running" in gone.stdout


def test_quit_and_wait_reports_a_master_still_running(resqued, app_dir, r):
    (app_dir / "conf.py").write_text("worker_processes(1)\n")
    m = resqued(
        "-c", str(app_dir / "conf.py"), "-r", "demo_jobs", "-p", str(app_dir / "m.pid"), cwd=app_dir
    )
    wait_for(lambda: (app_dir / "m.pid").exists() and "is ready" in m.output(), 20, "ready")
    r.sadd("resque:queues", "default")
    r.rpush("resque:queue:default", json.dumps({"class": "Sleep", "args": ["long", 30]}))
    wait_for(lambda: r.llen("started") == 1, 15, "long job started")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "resqued.cli",
            "quit-and-wait",
            str(app_dir / "m.pid"),
            "--grace-period",
            "6",  # it gives up 5 s before the end, as Ruby resqued's
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 99  # Ruby resqued's status
    assert "still running after 1s" in result.stdout
    quiet = [sys.executable, "-m", "resqued.cli", "quit-and-wait", str(app_dir / "m.pid")]
    result = subprocess.run([*quiet, "--grace-period", "5", "--quiet"], capture_output=True,
                            text=True, env=env, timeout=60)  # fmt: skip
    assert (result.returncode, result.stdout, result.stderr) == (99, "", "")


def test_pause_and_resume_per_master_and_globally(resqued, app_dir, r, redis_url):
    write_app(app_dir, "v1", 1)
    m, pid_path = start_master(resqued, app_dir)
    wait_for(lambda: len(worker_procs(m.pid)) == 1, 15, "worker")

    def ctl(*args: str) -> None:
        done = run(*args, "--redis", redis_url, timeout=30)
        assert done.returncode == 0, done.stdout + done.stderr

    for target in (["-p", str(pid_path)], ["--all"]):
        ctl("pause", *target)
        wait_for(lambda: any("Paused" in t for _, _, t in worker_procs(m.pid)), 10, "paused")
        count = int(r.get("count") or 0)
        push(r, count)
        holds(lambda: r.llen("resque:queue:flow") == 1, 1.5, "a paused worker took a job")
        ctl("resume", *target)
        wait_for(lambda count=count: int(r.get("count") or 0) == count + 1, 10, "resumed")


def test_systemd_notifications(resqued, app_dir, r, tmp_path):
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(20)
    write_app(app_dir, "v1", 1)
    m, _ = start_master(resqued, app_dir, env={"NOTIFY_SOCKET": path})

    def expect(field: str) -> None:
        while True:
            message = sock.recv(4096).decode()
            if field in message.split("\n"):
                return

    expect("READY=1")
    m.signal(signal.SIGHUP)
    expect("RELOADING=1")
    expect("READY=1")
    m.signal(signal.SIGQUIT)
    expect("STOPPING=1")
    sock.close()
    assert m.wait(30) == 0


def test_systemd_ready_comes_once_the_workers_registered(resqued, app_dir, r, tmp_path):
    """READY=1 at start waits for every worker to be in Redis (the listener being ready
    is not enough); meanwhile STATUS says the workers are starting, never "0 workers"."""
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(20)
    slow = "import time\n@after_fork\ndef slow(worker):\n    time.sleep(1)\n"  # before registering
    write_app(app_dir, "v1", 2, slow)
    m, _ = start_master(resqued, app_dir, env={"NOTIFY_SOCKET": path})
    before: list[str] = []
    while "READY=1" not in (message := sock.recv(4096).decode()).split("\n"):
        before.append(message)
    registered = r.smembers("resque:workers")  # read as soon as READY=1 came
    sock.close()
    assert len(registered) == 2
    assert "STATUS=gen 1, 2 workers" in message.split("\n")
    assert "STATUS=gen 1, starting 2 workers" in before
    assert not any("0 workers" in m for m in before)
    m.signal(signal.SIGQUIT)
    assert m.wait(30) == 0


@pytest.fixture(autouse=True)
def _no_shadow(app_dir: Path):
    yield
    shadow = app_dir / "resqued" / "__init__.py"
    if shadow.exists():
        shadow.unlink()
