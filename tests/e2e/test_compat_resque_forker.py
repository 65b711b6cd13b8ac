"""Resque::Forker users: its script's setup/teardown, forker object, signals and user(), as a config."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import tempfile
from pathlib import Path

import pytest
from support import APPS
from support.compat import compat, waiting, workers  # noqa: F401
from support.jobs import push
from support.procs import descendants, wait_for

# The README's script/workers, as a resqued config file.
WORKERS = """\
import logging, os

app_logger = logging.getLogger("myapp")
app_logger.addHandler(logging.FileHandler(os.path.join(os.getcwd(), "app.log")))
app_logger.setLevel(logging.DEBUG)
relay_signals("USR2", "CONT")  # the Capfile's workers:suspend / workers:resume, to the master

@setup
def load(forker):
    require("compat_jobs")  # the application
    forker.logger = app_logger
    forker.workload = ["import", "import,export"] * 2
    forker.interval = 1
    forker.verbose = True
    forker.terminate = 2

@teardown
def bye(forker):
    forker.logger.info("teardown in %d with %d workers configured", os.getpid(), len(forker.workload))

@teardown
def slow(forker):
    import time
    time.sleep(60)  # past forker.terminate: cut short, the listener exits anyway
"""


def test_setup_workload_teardown_and_signals_to_the_master(compat, app_dir):  # noqa: F811
    (app_dir / "workers.py").write_text(WORKERS)
    m = compat("resqued", "-c", "workers.py", cwd=app_dir)
    wait_for(
        lambda: waiting(m.pid, "import", 2)() and waiting(m.pid, "import,export", 2)(), 20, "4"
    )
    app_log = app_dir / "app.log"
    # forker.logger: the listener's and the workers' log lines go to the application's logger
    wait_for(lambda: app_log.read_text().count("started") >= 4, 10, "workers logging to app.log")
    # USR2 / CONT to the master reach every worker (relay_signals), as Resque::Forker's master
    m.signal(signal.SIGUSR2)
    wait_for(lambda: sum("Paused" in t for _, t in workers(m.pid)) == 4, 10, "4 paused")
    m.signal(signal.SIGCONT)
    wait_for(lambda: waiting(m.pid, "import", 2)() and waiting(m.pid, "import,export", 2)(), 10, "")
    # HUP: the old listener's workers stop, then its teardown hooks run in it (within terminate)
    m.signal(signal.SIGHUP)
    cut = "teardown hook slow failed: HookTimeout: teardown hook slow still running after 2s"
    wait_for(lambda: cut in app_log.read_text(), 20, "teardown after HUP, the slow one cut")
    text = app_log.read_text()
    assert "with 4 workers configured" in text
    # the old workers' exits came before the teardown (the same file, in order)
    assert text.rindex("exiting", 0, text.index("teardown in")) > 0
    m.signal(signal.SIGQUIT)
    assert m.wait(30) == 0
    assert app_log.read_text().count("teardown in") == 2  # the new listener's too, on QUIT


def uid_of(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return int(next(line for line in f if line.startswith("Uid:")).split()[1])


@pytest.mark.skipif(os.getuid() != 0, reason="user() needs root")
def test_user_runs_listener_and_workers_and_logs_still_reopen(compat, r):  # noqa: F811
    nobody = pwd.getpwnam("nobody")
    where = Path(tempfile.mkdtemp(prefix="resqued-user-", dir="/tmp"))
    try:
        os.chmod(where, 0o755)
        shutil.copy(APPS / "compat_jobs.py", where / "compat_jobs.py")
        (where / "log").mkdir()
        (where / "workers.py").write_text(
            'require("compat_jobs")\nworker_processes(1)\nqueue("mail")\n'
            '@setup\ndef load(forker):\n    forker.user("nobody")\n'
        )
        m = compat("resqued", "-c", "workers.py", "-l", "log/resqued.log", cwd=where)
        wait_for(waiting(m.pid, "mail", 1), 20, "the worker")
        listener = listeners(m.pid)[0]
        assert uid_of(m.pid) == 0  # the master stays root (pidfile, signals)
        assert uid_of(listener) == nobody.pw_uid
        assert all(uid_of(pid) == nobody.pw_uid for pid, _ in workers(m.pid))
        push(r, "mail", "Env")
        wait_for(lambda: r.llen("env"), 10, "the Env job")
        assert r.lindex("env", 0).decode().endswith(f"uid={nobody.pw_uid}")
        # logrotate: move the file, USR1; every process reopens the path, the new file is theirs
        log = where / "log" / "resqued.log"
        assert log.stat().st_uid == nobody.pw_uid
        log.rename(where / "log" / "resqued.log.1")
        m.signal(signal.SIGUSR1)
        wait_for(log.exists, 10, "the new log file")
        assert log.stat().st_uid == nobody.pw_uid
        push(r, "mail", "Say", "after the rotation")
        wait_for(lambda: "after the rotation" in log.read_text(), 10, "a job's output in it")
        m.signal(signal.SIGQUIT)
        assert m.wait(30) == 0
    finally:
        shutil.rmtree(where, ignore_errors=True)


def listeners(pid: int) -> list[int]:
    return [p for p, _, title in descendants(pid) if " listener #" in title]


CAPFILE_WORKERS = "require('compat_jobs')\nworkload(['import'] * 2)\ninterval(1)\n"


def paused(m_pid: int, n: int):
    return lambda: sum("Paused" in t for _, t in workers(m_pid)) == n


def test_the_capfile_flow_with_relay_signals_or_resqued_pause(compat, app_dir, r):  # noqa: F811
    """The README's Capfile: workers:pause (kill -USR2 <master>), workers:resume (kill
    -CONT), workers:reload (HUP). With --relay-signals the kills work as they did; a plain
    master keeps resqued's USR2 (re-exec), and `resqued pause/resume -p` replace them."""
    (app_dir / "workers.py").write_text(CAPFILE_WORKERS)
    m = compat("resqued", "-c", "workers.py", "--relay-signals", "-p", "w.pid", cwd=app_dir)
    wait_for(waiting(m.pid, "import", 2), 20, "2 workers")
    master = int((app_dir / "w.pid").read_text())  # `status workers | cut -d ' ' -f 4`
    os.kill(master, signal.SIGUSR2)  # workers:pause
    wait_for(paused(m.pid, 2), 10, "both paused")
    push(r, "import", "Report")
    os.kill(master, signal.SIGCONT)  # workers:resume
    wait_for(lambda: r.llen("record") == 1, 10, "the job taken after the resume")
    before = {pid for pid, _ in workers(m.pid)}
    m.signal(signal.SIGHUP)  # workers:reload
    wait_for(lambda: waiting(m.pid, "import", 2)() and not before & {p for p, _ in
             workers(m.pid)}, 20, "2 new workers")  # fmt: skip
    m.signal(signal.SIGQUIT)
    assert m.wait(30) == 0
    # A plain master: USR2 is its re-exec; `resqued pause -p` is the Capfile's pause
    plain = compat("resqued", "-c", "workers.py", "-p", "p.pid", cwd=app_dir)
    wait_for(waiting(plain.pid, "import", 2), 20, "2 workers")
    kept = {pid for pid, _ in workers(plain.pid)}
    assert compat("resqued", "pause", "-p", "p.pid", cwd=app_dir).wait(30) == 0
    wait_for(paused(plain.pid, 2), 10, "both paused through Redis")
    push(r, "import", "Report")
    assert compat("resqued", "resume", "-p", "p.pid", cwd=app_dir).wait(30) == 0
    wait_for(lambda: r.llen("record") == 2, 10, "the job taken after resqued resume")
    plain.signal(signal.SIGUSR2)
    wait_for(lambda: "re-exec: took over 1 listener(s)" in plain.output(), 30, "re-exec")
    assert {pid for pid, _ in workers(plain.pid)} == kept  # the same workers, not paused
    plain.signal(signal.SIGQUIT)
    assert plain.wait(30) == 0
