"""Action Verb users (and Resque's rake tasks): WORKER_COUNT, THREAD_COUNT, JOBS_PER_FORK, COUNT,
BACKGROUND and PIDFILE, for `resqued work` and the master."""

from __future__ import annotations

import os
import signal

from support.compat import compat, waiting, workers  # noqa: F401
from support.jobs import failures, push, worker_ids
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
