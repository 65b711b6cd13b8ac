"""Threads per process (Action Verb's hybrid model), standalone and under the master."""

from __future__ import annotations

import signal

from support.jobs import failures, push
from support.procs import descendants, wait_for


def test_threads_run_jobs_concurrently_in_one_process(resqued, app_dir, r):
    w = resqued(
        "work", "-q", "default", "-r", "demo_jobs", "--threads", "3", "-i", "1", cwd=app_dir
    )
    wait_for(lambda: r.scard("resque:workers") == 3, 15, "three thread workers registered")
    ids = sorted(x.decode() for x in r.smembers("resque:workers"))
    pid = str(w.pid)
    assert all(i.split(":")[1] == pid for i in ids), ids  # Ruby's prune sees a live pid
    assert sorted(i.split(":", 2)[2] for i in ids) == ["default", "default#2", "default#3"]
    for n in range(3):
        push(r, "default", "Sleep", f"s{n}", 2)
    # all three run at the same time, in the worker process itself (no fork per job)
    wait_for(lambda: r.llen("started") == 3, 10, "three jobs running at once")
    assert {e.decode().split(":")[1] for e in r.lrange("started", 0, -1)} == {pid}
    assert r.llen("finished") == 0
    w.signal(signal.SIGQUIT)  # graceful: the running jobs finish first
    assert w.wait(30) == 0
    assert r.llen("finished") == 3
    assert r.scard("resque:workers") == 0
    assert r.llen("resque:failed") == 0


def test_term_fails_jobs_still_running_in_threads(resqued, app_dir, r):
    w = resqued(
        "work",
        "-q",
        "default",
        "-r",
        "demo_jobs",
        "--threads",
        "2",
        "-i",
        "1",
        cwd=app_dir,
        env={"RESQUE_TERM_TIMEOUT": "0.5"},
    )
    wait_for(lambda: r.scard("resque:workers") == 2, 15, "registered")
    push(r, "default", "Sleep", "long", 60)
    wait_for(lambda: r.llen("started") == 1, 10, "job running")
    w.signal(signal.SIGTERM)
    w.wait(30)
    failed = failures(r)
    assert [f["exception"] for f in failed] == ["Resque::DirtyExit"]
    assert failed[0]["payload"] == {"class": "Sleep", "args": ["long", 60]}
    assert r.scard("resque:workers") == 0


def test_master_runs_threaded_workers(resqued, app_dir, r):
    m = resqued("-n", "2", "--threads", "2", "-r", "demo_jobs", "--interval", "1", cwd=app_dir)
    wait_for(lambda: r.scard("resque:workers") == 4, 20, "2 processes x 2 threads")
    workers = [p for p, _, t in descendants(m.pid) if t.startswith("resque-")]
    assert len(workers) == 2
    for n in range(4):
        push(r, "default", "Record", n)
    wait_for(lambda: r.llen("record") == 4, 10, "jobs done")
    m.signal(signal.SIGQUIT)
    assert m.wait(30) == 0
    assert r.scard("resque:workers") == 0
