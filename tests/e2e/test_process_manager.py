"""The master/listener/worker process manager, end to end with the real `resqued` command."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from support import ROOT
from support.procs import descendants, ps, wait_for

from resqued.process.proc import alive
from resqued.version import __version__


def push(r, queue: str, cls: str, *args) -> None:
    r.sadd("resque:queues", queue)
    r.rpush(f"resque:queue:{queue}", json.dumps({"class": cls, "args": list(args)}))


def tree(master: int) -> dict[str, list[tuple[int, int, str]]]:
    """The processes under ``master``: listeners and workers (job children left out)."""
    rows = descendants(master)
    listeners = [row for row in rows if row[1] == master and " listener #" in row[2]]
    lpids = {p for p, _, _ in listeners}
    workers = [row for row in rows if row[1] in lpids and row[2].startswith("resque-")]
    return {"listeners": listeners, "workers": workers}


def n_workers(master: int) -> int:
    return len(tree(master)["workers"])


def start(resqued, app_dir, *args, env=None):
    m = resqued(*args, "-r", "demo_jobs", "--interval", "1", cwd=app_dir, env=env)
    return m


def test_process_tree_titles_and_allocation(resqued, app_dir, r):
    m = start(resqued, app_dir, "-n", "4", "--queue", "high=2", "--queue", "low=25%")
    wait_for(lambda: n_workers(m.pid) == 4 and r.scard("resque:workers") == 4, 20, "4 workers")
    [master_title] = [t for p, _, t in ps() if p == m.pid]
    assert master_title.startswith(f"resqued-{__version__} master [gen 1] [4 workers]")
    t = tree(m.pid)
    [(_, _, listener_title)] = t["listeners"]
    assert listener_title == f"resqued-{__version__} listener #1 4/4/4 running"
    titles = sorted(title for _, _, title in t["workers"])
    assert titles == sorted(
        [
            f"resque-{__version__}: Waiting for high,low",
            f"resque-{__version__}: Waiting for high",
            f"resque-{__version__}: Waiting for *",
            f"resque-{__version__}: Waiting for *",
        ]
    )
    ids = sorted(w.decode() for w in r.smembers("resque:workers"))
    assert sorted(i.split(":", 2)[2] for i in ids) == ["*", "*", "high", "high,low"]
    assert {int(i.split(":")[1]) for i in ids} == {p for p, _, _ in t["workers"]}
    # priority: a high job goes to a high worker even while low has a backlog
    push(r, "default", "Record", "any")
    wait_for(lambda: r.llen("record") == 1, 10, "a * worker takes other queues")


def test_killed_worker_is_replaced_and_its_job_failed(resqued, app_dir, r):
    m = start(resqued, app_dir, "-n", "2", "--no-fork")
    wait_for(lambda: n_workers(m.pid) == 2, 20, "2 workers")
    push(r, "default", "Sleep", "doomed", 30)
    wait_for(lambda: r.llen("started") == 1, 10, "job running")
    victim = int(r.lindex("started", 0).decode().split(":")[1])
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: r.llen("resque:failed") == 1, 10, "job recorded as failed")
    rec = json.loads(r.lindex("resque:failed", 0))
    assert rec["exception"] == "Resque::DirtyExit" and rec["payload"]["args"][0] == "doomed"
    wait_for(
        lambda: n_workers(m.pid) == 2 and victim not in [p for p, _, _ in tree(m.pid)["workers"]],
        10,
        "replacement worker",
    )
    wait_for(lambda: r.scard("resque:workers") == 2, 10, "registry holds live workers only")
    assert str(victim) not in " ".join(w.decode() for w in r.smembers("resque:workers"))


def test_quit_is_graceful(resqued, app_dir, r):
    m = start(resqued, app_dir, "-n", "2")
    wait_for(lambda: n_workers(m.pid) == 2, 20, "workers")
    push(r, "default", "Sleep", "q", 1.5)
    wait_for(lambda: r.llen("started") == 1, 10, "job running")
    m.signal(signal.SIGQUIT)
    assert m.wait(30) == 0
    assert r.lrange("finished", 0, -1) == [b"q"]
    assert r.scard("resque:workers") == 0 and r.llen("resque:failed") == 0
    assert descendants(m.pid) == []


def test_term_is_immediate_and_records_the_job(resqued, app_dir, r):
    m = start(resqued, app_dir, "-n", "2")
    wait_for(lambda: n_workers(m.pid) == 2, 20, "workers")
    push(r, "default", "Sleep", "t", 60)
    wait_for(lambda: r.llen("started") == 1, 10, "job running")
    m.signal(signal.SIGTERM)
    assert m.wait(20) == 0
    [rec] = [json.loads(x) for x in r.lrange("resque:failed", 0, -1)]
    assert rec["exception"] == "Resque::DirtyExit"
    assert r.scard("resque:workers") == 0


def test_ttin_and_ttou(resqued, app_dir, r):
    m = start(resqued, app_dir, "-n", "2")
    wait_for(lambda: n_workers(m.pid) == 2, 20, "2 workers")
    m.signal(signal.SIGTTIN)
    wait_for(lambda: n_workers(m.pid) == 3 and r.scard("resque:workers") == 3, 10, "3 workers")
    push(r, "default", "Sleep", "busy", 1.0)
    m.signal(signal.SIGTTOU)
    wait_for(lambda: n_workers(m.pid) == 2, 15, "2 workers")  # signals sent together may merge
    m.signal(signal.SIGTTOU)
    wait_for(lambda: n_workers(m.pid) == 1, 15, "1 worker")
    wait_for(lambda: r.llen("finished") == 1, 10, "a retired worker finished its job")
    assert r.llen("resque:failed") == 0


def test_winch_stops_workers_and_hup_starts_them(resqued, app_dir, r):
    m = start(resqued, app_dir, "-n", "2")
    wait_for(lambda: n_workers(m.pid) == 2, 20, "workers")
    m.signal(signal.SIGWINCH)
    wait_for(lambda: tree(m.pid)["listeners"] == [] and n_workers(m.pid) == 0, 15, "stopped")
    assert alive(m.pid) and r.scard("resque:workers") == 0
    m.signal(signal.SIGHUP)
    wait_for(lambda: n_workers(m.pid) == 2, 20, "workers again")


def test_usr1_reopens_logs(resqued, app_dir, r, tmp_path):
    log = tmp_path / "resqued.log"
    m = start(resqued, app_dir, "-n", "1", "-l", str(log))
    wait_for(lambda: log.exists() and "worker" in log.read_text(), 20, "logging to the file")
    log.rename(tmp_path / "resqued.log.1")
    m.signal(signal.SIGUSR1)
    wait_for(lambda: log.exists(), 10, "a new log file")
    m.signal(signal.SIGTTIN)  # master, listener and new worker all write to the new file
    wait_for(lambda: "pool workers: 2" in log.read_text(), 10, "master logs to the new file")
    wait_for(
        lambda: re.search(r"resqued\[\d+\] INFO: worker .* started", log.read_text()),
        10,
        "worker logs to the new file",
    )
    assert "reopened log files" in (tmp_path / "resqued.log.1").read_text() + log.read_text()


def test_master_sigkill_leaves_nothing_behind(resqued, app_dir, r):
    m = start(resqued, app_dir, "-n", "2")
    wait_for(lambda: n_workers(m.pid) == 2, 20, "workers")
    family = [p for p, _, _ in descendants(m.pid)]
    push(r, "default", "Sleep", "orphaned", 1.0)
    wait_for(lambda: r.llen("started") == 1, 10, "job running")
    m.signal(signal.SIGKILL)
    wait_for(lambda: not any(alive(p) for p in family), 15, "listener and workers gone")
    assert r.lrange("finished", 0, -1) == [b"orphaned"]  # the job finished first
    assert r.scard("resque:workers") == 0 and r.llen("resque:failed") == 0


def test_killed_listener_is_replaced(resqued, app_dir, r):
    m = start(resqued, app_dir, "-n", "2")
    wait_for(lambda: n_workers(m.pid) == 2, 20, "workers")
    [(listener, _, _)] = tree(m.pid)["listeners"]
    old_workers = [p for p, _, _ in tree(m.pid)["workers"]]
    os.kill(listener, signal.SIGKILL)
    wait_for(lambda: not any(alive(p) for p in old_workers), 15, "orphaned workers exit")
    wait_for(
        lambda: n_workers(m.pid) == 2 and tree(m.pid)["listeners"][0][0] != listener,
        20,
        "a new listener with 2 workers",
    )
    push(r, "default", "Record", "after")
    wait_for(lambda: r.llen("record") == 1, 10, "jobs flow again")


def test_daemonize_with_pidfile(resqued, app_dir, r, redis_url, tmp_path):
    pidfile = tmp_path / "resqued.pid"
    log = tmp_path / "d.log"
    env = {**os.environ, "PYTHONPATH": f"{app_dir}{os.pathsep}{ROOT}", "REDIS_URL": redis_url}
    cmd = [
        sys.executable,
        "-m",
        "resqued.cli",
        "-D",
        "-n",
        "1",
        "-r",
        "demo_jobs",
        "-p",
        str(pidfile),
        "-l",
        str(log),
        "--redis",
        redis_url,
    ]
    launched = subprocess.run(cmd, cwd=app_dir, env=env, capture_output=True, text=True, timeout=30)
    assert launched.returncode == 0, launched.stderr
    pid = int(pidfile.read_text())  # written before the launcher returned
    try:
        assert alive(pid)
        wait_for(lambda: r.scard("resque:workers") == 1, 20, "daemon's worker")
        again = subprocess.run(
            cmd, cwd=app_dir, env=env, capture_output=True, text=True, timeout=30
        )
        assert again.returncode == 1
        assert f"names pid {pid}, which is still running" in again.stderr
        os.kill(pid, signal.SIGQUIT)
        wait_for(lambda: not alive(pid), 20, "daemon exits")
        assert not pidfile.exists()
    finally:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_stale_pidfile_is_taken_over(resqued, app_dir, r, tmp_path):
    pidfile = tmp_path / "stale.pid"
    dead = subprocess.Popen(["true"])
    dead.wait()
    pidfile.write_text(f"{dead.pid}\n")
    m = start(resqued, app_dir, "-n", "1", "-p", str(pidfile))
    wait_for(lambda: pidfile.read_text().strip() == str(m.pid), 15, "pidfile taken over")
    m.signal(signal.SIGQUIT)
    assert m.wait(20) == 0
    assert not pidfile.exists()


def test_a_start_that_cannot_work_exits_with_the_reason(resqued, app_dir, r):
    (app_dir / "broken_app.py").write_text("raise RuntimeError('app is broken')\n")
    m = resqued("-n", "1", "-r", "broken_app", cwd=app_dir)
    assert m.wait(30) == 1
    out = m.output()
    assert "cannot start: cannot require 'broken_app': RuntimeError: app is broken" in out
    assert "Traceback" not in out


def test_a_listener_that_keeps_failing_backs_off_and_says_why(resqued, app_dir, r):
    (app_dir / "flaky_app.py").write_text("import demo_jobs\n")
    m = resqued("-n", "1", "-r", "flaky_app", cwd=app_dir)
    wait_for(lambda: n_workers(m.pid) == 1, 20, "a worker")
    (app_dir / "flaky_app.py").write_text("raise RuntimeError('app is broken')\n")
    [(listener, _, _)] = tree(m.pid)["listeners"]
    os.kill(listener, signal.SIGKILL)
    pattern = r"cannot start: cannot require 'flaky_app': RuntimeError: app is broken; trying again in ([\d.]+)s"
    wait_for(lambda: len(re.findall(pattern, m.output())) >= 2, 30, "two failed listeners")
    delays = [float(x) for x in re.findall(pattern, m.output())]
    assert delays[1] > delays[0]  # backing off
    title = next(t for p, _, t in ps() if p == m.pid)
    assert "[listener failing]" in title
    assert alive(m.pid) and m.popen.poll() is None
    (app_dir / "flaky_app.py").write_text("import demo_jobs\n")
    wait_for(lambda: n_workers(m.pid) == 1, 30, "the app works again")
    wait_for(
        lambda: "listener failing" not in next(t for p, _, t in ps() if p == m.pid),
        10,
        "the title says so",
    )


def test_crash_looping_worker_backs_off(resqued, app_dir, r, tmp_path):
    conf = tmp_path / "crash.py"
    conf.write_text(
        "worker_processes(1)\n\n@after_fork\ndef boom(worker):\n"
        "    raise RuntimeError('cannot connect to the database')\n"
    )
    m = resqued("-c", str(conf), "-r", "demo_jobs", cwd=app_dir)
    wait_for(lambda: len(re.findall(r"restarts in", m.output())) >= 3, 30, "three restarts")
    delays = [float(x) for x in re.findall(r"restarts in ([\d.]+)s", m.output())]
    assert delays[2] > delays[0]
    assert "cannot connect to the database" in m.output()
    assert alive(m.pid) and len(tree(m.pid)["listeners"]) == 1


def test_hup_reloads_config(resqued, app_dir, r, tmp_path):
    conf = tmp_path / "conf.py"
    conf.write_text("worker_processes(2)\nqueue('a')\n")
    m = resqued("-c", str(conf), "-r", "demo_jobs", "--interval", "1", cwd=app_dir)
    wait_for(lambda: n_workers(m.pid) == 2, 20, "2 workers")
    conf.write_text("worker_processes(3)\nqueue('b')\n")
    m.signal(signal.SIGHUP)
    wait_for(
        lambda: (
            sorted(t for _, _, t in tree(m.pid)["workers"])
            == [f"resque-{__version__}: Waiting for b"] * 3
        ),
        20,
        "3 workers on b",
    )
    assert [t for p, _, t in ps() if p == m.pid][0].startswith(
        f"resqued-{__version__} master [gen 2]"
    )


def test_workers_run_as_the_configured_user(resqued, app_dir, r, tmp_path):
    if os.getuid() != 0:
        import pytest

        pytest.skip("dropping privileges needs root")
    conf = tmp_path / "user.py"
    conf.write_text('worker_processes(1)\nuser("nobody")\n')
    m = resqued("-c", str(conf), "-r", "demo_jobs", cwd=app_dir)
    wait_for(lambda: n_workers(m.pid) == 1 and r.scard("resque:workers") == 1, 20, "worker")
    [(worker, _, _)] = tree(m.pid)["workers"]
    uid_line = next(
        line
        for line in Path(f"/proc/{worker}/status").read_text().splitlines()
        if line.startswith("Uid:")
    )
    import pwd

    assert int(uid_line.split()[1]) == pwd.getpwnam("nobody").pw_uid
    [(listener, _, _)] = tree(m.pid)["listeners"]  # the listener too (it imported the app first)
    listener_uid = Path(f"/proc/{listener}/status").read_text().split("Uid:")[1].split()[0]
    assert int(listener_uid) == pwd.getpwnam("nobody").pw_uid
    assert Path(f"/proc/{m.pid}/status").read_text().count("Uid:\t0") == 1  # the master: root


def test_on_failure_runs_for_the_job_of_a_killed_worker(resqued, app_dir, r):
    (app_dir / "noted_jobs.py").write_text(
        "import os, time, redis, resqued\n"
        "r = redis.Redis.from_url(os.environ['REDIS_URL'])\n\n"
        "@resqued.job('Noted')\n"
        "class Noted:\n"
        "    @staticmethod\n"
        "    def perform(key):\n"
        "        r.rpush('started', f'{key}:{os.getpid()}')\n"
        "        time.sleep(60)\n\n"
        "    @staticmethod\n"
        "    def on_failure_note(exc, key):\n"
        "        r.rpush('on_failure', f'{key}:{os.getpid()}')\n"
    )
    m = resqued("-n", "1", "--no-fork", "-r", "noted_jobs", "--interval", "1", cwd=app_dir)
    push(r, "default", "Noted", "k")
    wait_for(lambda: r.llen("started") == 1, 20, "job running")
    victim = int(r.lindex("started", 0).decode().split(":")[1])
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: r.llen("on_failure") == 1, 10, "on_failure ran in the listener")
    [(listener, _, _)] = tree(m.pid)["listeners"]
    assert r.lindex("on_failure", 0) == f"k:{listener}".encode()
    assert json.loads(r.lindex("resque:failed", 0))["exception"] == "Resque::DirtyExit"


def test_a_quit_that_reaches_a_starting_worker_is_obeyed_not_fatal(resqued, app_dir, r, tmp_path):
    """TTOU or HUP may QUIT a worker before its handlers exist: it stops cleanly, not by
    QUIT's default disposition (a core dump, and its registration left behind)."""
    mark, go = tmp_path / "forked", tmp_path / "go"
    conf = tmp_path / "slow_start.py"
    conf.write_text(  # the first worker starts only once the test has sent its QUIT
        "worker_processes(1)\nqueue('default')\n\n@after_fork\ndef slow(worker):\n"
        "    import os, pathlib, time\n"
        f"    mark, go = pathlib.Path({str(mark)!r}), pathlib.Path({str(go)!r})\n"
        "    if mark.exists():\n        return\n"
        "    mark.write_text(str(os.getpid()))\n"
        "    deadline = time.monotonic() + 20\n"
        "    while not go.exists() and time.monotonic() < deadline:\n"
        "        time.sleep(0.01)\n"
    )
    m = resqued("-c", str(conf), "-r", "demo_jobs", cwd=app_dir)
    wait_for(lambda: mark.exists() and mark.read_text(), 20, "a worker in its after_fork hook")
    pid = int(mark.read_text())
    os.kill(pid, signal.SIGQUIT)  # our own worker, by pid, while it is still starting
    go.touch()
    wait_for(lambda: not alive(pid), 20, "the worker gone")
    wait_for(lambda: f"{pid}" in m.output(), 10, "its exit logged")
    lines = [line for line in m.output().splitlines() if f"worker {pid} " in line]
    assert not [line for line in lines if "killed by" in line], lines
    assert not [w for w in r.smembers("resque:workers") if f":{pid}:".encode() in w]
