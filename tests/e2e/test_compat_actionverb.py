"""Action Verb users (and Resque's rake tasks): WORKER_COUNT, THREAD_COUNT, JOBS_PER_FORK, COUNT,
BACKGROUND and PIDFILE, for `resqued work` and the master."""

from __future__ import annotations

import os
import signal

from support.compat import compat, waiting, workers  # noqa: F401
from support.jobs import failures, push, worker_ids
from support.pidns import in_pid_namespace
from support.procs import wait_for


def test_worker_count_threads_and_jobs_per_fork_under_resqued_work(compat, app_dir, r):  # noqa: F811
    env = {"WORKER_COUNT": "2", "THREAD_COUNT": "2", "JOBS_PER_FORK": "3", "QUEUES": "mail"}
    m = compat("resqued", "work", "-r", "compat_jobs", "-i", "1", env=env, cwd=app_dir)
    wait_for(waiting(m.pid, "mail", 2), 20, "2 worker processes")
    wait_for(lambda: len(worker_ids(r)) == 4, 10, "2 threads each")
    first = {pid for pid, _ in workers(m.pid)}
    for n in range(12):  # 3 jobs per process, then it makes way for a fresh one
        push(r, "mail", "Mailer", n)
    wait_for(lambda: r.llen("record") == 12, 20, "12 jobs")
    wait_for(
        lambda: waiting(m.pid, "mail", 2)() and not first & {p for p, _ in workers(m.pid)}, 20, ""
    )
    # USR1 to the master: every current job is killed (in threads), processing goes on
    push(r, "mail", "Spin", "a", 60)
    push(r, "mail", "Spin", "b", 60)
    wait_for(lambda: r.llen("started") == 2, 10, "two long jobs")
    m.signal(signal.SIGUSR1)
    wait_for(lambda: len(failures(r)) == 2, 15, "both killed")
    assert {f["exception"] for f in failures(r)} == {"resqued.worker.JobKilled"}
    push(r, "mail", "Mailer", "after")
    wait_for(lambda: r.llen("record") == 13, 15, "still processing")
    m.signal(signal.SIGQUIT)
    assert m.wait(30) == 0


def test_the_master_honours_worker_and_thread_counts(compat, app_dir, r):  # noqa: F811
    env = {"WORKER_COUNT": "3", "THREAD_COUNT": "2"}
    m = compat("resqued", "-r", "compat_jobs", "--queue", "mail", env=env, cwd=app_dir)
    wait_for(waiting(m.pid, "mail", 3), 20, "3 worker processes")
    wait_for(lambda: len(worker_ids(r)) == 6, 10, "2 threads each")
    m.signal(signal.SIGQUIT)
    assert m.wait(30) == 0


def test_count_background_and_pidfile(compat, app_dir, r):  # noqa: F811
    # COUNT=2 BACKGROUND=yes PIDFILE=...: a daemonized master with two workers
    env = {"COUNT": "2", "BACKGROUND": "yes", "PIDFILE": "pool.pid", "QUEUE": "mail"}
    launcher = compat("resqued", "work", "-r", "compat_jobs", env=env, cwd=app_dir)
    assert launcher.wait(30) == 0, launcher.output()
    master = compat.adopt(int((app_dir / "pool.pid").read_text()))
    wait_for(waiting(master, "mail", 2), 20, "two workers under the daemonized master")
    with open(f"/proc/{master}/cmdline") as f:
        assert " master [gen 1] " in f.read().replace("\0", " ")
    # one worker: BACKGROUND detaches it, PIDFILE holds the worker's own pid
    one = {**env, "COUNT": "", "PIDFILE": "worker.pid"}
    single = compat("resqued", "work", "-r", "compat_jobs", env=one, cwd=app_dir)
    assert single.wait(30) == 0, single.output()
    path = app_dir / "worker.pid"
    wait_for(path.exists, 15, "the single worker's pidfile")
    worker = compat.adopt(int(path.read_text()))
    with open(f"/proc/{worker}/cmdline") as f:
        assert f.read().startswith("resque-0.")
    os.kill(worker, signal.SIGQUIT)
    wait_for(lambda: not path.exists(), 15, "the pidfile removed when the worker exits")
    os.kill(master, signal.SIGQUIT)
    wait_for(lambda: not (app_dir / "pool.pid").exists(), 20, "the master gone, its pidfile too")


def pids_recorded(r) -> list[int]:
    return [int(x.decode().split(":")[1]) for x in r.lrange("record", 0, -1)]


def test_jobs_per_fork_runs_jobs_in_the_worker_process(compat, app_dir, r):  # noqa: F811
    """Action Verb's JOBS_PER_FORK with one thread: the worker process performs its jobs
    (no child per job) and exits after that many, for `resqued work` and the master."""
    for n in range(2):
        push(r, "mail", "Mailer", n)
    env = {"JOBS_PER_FORK": "2", "QUEUES": "mail"}
    one = compat("resqued", "work", "-r", "compat_jobs", env=env, cwd=app_dir)
    assert one.wait(30) == 0, one.output()  # exits after its 2 jobs
    assert pids_recorded(r) == [one.pid, one.pid]
    # The master in Action Verb's form: WORKER_COUNT with its QUEUES and INTERVAL
    r.delete("record")
    env = {"WORKER_COUNT": "1", "JOBS_PER_FORK": "2", "QUEUES": "mail", "INTERVAL": "1"}
    m = compat("resqued", "-r", "compat_jobs", env=env, cwd=app_dir)
    wait_for(waiting(m.pid, "mail", 1), 20, "one worker on $QUEUES")
    first = workers(m.pid)[0][0]
    for n in range(3):
        push(r, "mail", "Mailer", n)
    wait_for(lambda: r.llen("record") == 3, 20, "3 jobs")
    pids = pids_recorded(r)
    assert pids[:2] == [first, first] and pids[2] != first  # replaced after 2 jobs
    assert pids[2] in {pid for pid, _ in workers(m.pid)}  # ... and again in process
    m.signal(signal.SIGQUIT)
    assert m.wait(30) == 0


def test_the_master_reads_queues_and_interval_with_worker_count(compat, app_dir):  # noqa: F811
    env = {"WORKER_COUNT": "2", "QUEUES": "high,low"}
    table = compat("resqued", "--test", env=env, cwd=app_dir)
    assert table.wait(30) == 0, table.output()
    assert "1  high,low\n2  high,low\n2 workers" in table.output()
    flag = compat("resqued", "--test", "--queue", "x", env=env, cwd=app_dir)  # the flag wins
    assert flag.wait(30) == 0 and "1  x\n2  x\n2 workers" in flag.output()
    bad = compat("resqued", "--test", env={**env, "INTERVAL": "soon"}, cwd=app_dir)
    assert bad.wait(30) == 1 and "INTERVAL must be a number of seconds" in bad.output()
    # Without WORKER_COUNT, the plain master leaves $QUEUES alone (its config decides)
    plain = compat("resqued", "--test", "-n", "1", env={"QUEUES": "high"}, cwd=app_dir)
    assert plain.wait(30) == 0 and "1  *\n1 worker" in plain.output()


def test_interval_zero_is_burst_mode(compat, app_dir, r):  # noqa: F811
    """INTERVAL=0 (rake resque:work's) or --burst: work until the queues are empty, then exit."""
    for n in range(3):
        push(r, "mail", "Mailer", n)
    env = {"QUEUES": "mail", "INTERVAL": "0", "VERBOSE": "1"}
    w = compat("resqued", "work", "-r", "compat_jobs", env=env, cwd=app_dir)
    assert w.wait(30) == 0, w.output()
    assert r.llen("record") == 3 and r.llen("resque:queue:mail") == 0
    assert worker_ids(r) == []  # unregistered on the way out
    assert "queues empty, exiting (burst)" in w.output()
    assert w.output().count("Mailer on mail done") == 3  # VERBOSE: a line per job
    # --burst with a threaded worker, and COUNT=2: two workers side by side, both exit
    for n in range(6):
        push(r, "mail", "Mailer", n)
    b = compat("resqued", "work", "-q", "mail", "-r", "compat_jobs", "--burst", "--threads", "2",
               env={"COUNT": "2"}, cwd=app_dir)  # fmt: skip
    assert b.wait(30) == 0, b.output()
    assert r.llen("record") == 9 and worker_ids(r) == []
    assert b.output().count("queues empty, exiting (burst)") == 4  # 2 processes x 2 threads


def test_background_detaches_a_child_of_pid_1(app_dir, r, redis_url):
    """BACKGROUND=1 in a container, where the worker's parent is pid 1: it still detaches
    (python-daemon would run it in the foreground). Run as pid 1 of a private namespace."""
    result = in_pid_namespace(
        f"""
        import os, signal, subprocess, sys
        from support.pidns import inside, until, report
        inside()
        cwd = {str(app_dir)!r}
        env = {{**os.environ, "BACKGROUND": "1", "PIDFILE": "w.pid", "QUEUES": "mail"}}
        launched = subprocess.Popen(
            [sys.executable, "-m", "resqued.cli", "work", "-r", "compat_jobs"],
            cwd=cwd, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            code = launched.wait(30)
        except subprocess.TimeoutExpired:
            code = None
        path = os.path.join(cwd, "w.pid")
        until(lambda: os.path.exists(path), 20)
        worker = int(open(path).read()) if os.path.exists(path) else 0
        with open(f"/proc/{{worker}}/cmdline") as f:
            title = f.read()
        os.kill(worker, signal.SIGQUIT)
        gone = until(lambda: not os.path.exists(path), 20)
        report(code=code, launched=launched.pid, worker=worker, title=title, gone=gone)
        """,
        env={"REDIS_URL": redis_url, "PYTHONPATH": str(app_dir)},
    )
    assert result["code"] == 0  # the command returned: the worker went to the background
    assert result["worker"] not in (0, result["launched"])
    assert result["title"].startswith("resque-") and result["gone"]
