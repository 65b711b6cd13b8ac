"""A worker's signals (Resque's semantics): QUIT, TERM/INT, TERM_CHILD, USR1, USR2/CONT."""

from __future__ import annotations

import signal

import pytest
from support.jobs import (
    PREFIX,
    failures,
    idle,
    push,
    reserves,
    strings,
    wait_reserves,
    work,
    worker_id,
)
from support.procs import titles, wait_for
from support.worker import quit_, ran_in, started_pid


def test_quit_and_term_end_an_idle_worker_at_once(resqued, app_dir, r):
    env = {"INTERVAL": "30"}
    a = resqued("work", "-r", "demo_jobs", "-q", "default", cwd=app_dir, env=env)
    b = resqued("work", "-r", "demo_jobs", "-q", "default", cwd=app_dir, env=env)
    idle(a)
    idle(b)
    a.signal(signal.SIGQUIT)
    b.signal(signal.SIGTERM)
    assert a.wait(5) == 0 and b.wait(5) == 0
    assert r.scard("resque:workers") == 0 and r.hlen("resque:workers:heartbeat") == 0
    assert [k for k in r.keys("*") if b"inflight" in k] == []


@pytest.mark.parametrize("mode", ["--fork", "--no-fork"])
def test_quit_finishes_the_current_job_then_exits(resqued, app_dir, r, mode):
    w = work(resqued, app_dir, "-q", "default", mode)
    wid = worker_id(r)
    push(r, "default", "Sleep", "q", 1)
    push(r, "default", "Record", "never")
    started_pid(r)
    w.signal(signal.SIGQUIT)
    assert w.wait(20) == 0
    assert strings(r, "finished") == ["q"]
    assert r.llen("resque:failed") == 0 and r.llen("record") == 0
    assert r.llen("resque:queue:default") == 1
    assert r.get("resque:stat:processed") == b"1"
    assert not r.sismember("resque:workers", wid)


def test_quit_while_paused_exits(resqued, app_dir, r):
    w = work(resqued, app_dir, "-q", "default", "--no-fork")
    idle(w)
    w.signal(signal.SIGUSR2)
    wait_for(lambda: f"{PREFIX}: Paused" in titles(w.pid), 10, "paused")
    w.signal(signal.SIGQUIT)
    assert w.wait(10) == 0
    assert r.scard("resque:workers") == 0


def test_term_kills_the_child_and_records_a_dirty_exit(resqued, app_dir, r):
    w = work(resqued, app_dir, "-q", "default", lib="hook_jobs")
    wid = worker_id(r)
    push(r, "default", "Hooks::Slow", "t", 30)
    wait_for(lambda: any(e.startswith("started:t") for e in strings(r, "events")), 15, "started")
    child = int(next(e for e in strings(r, "events") if e.startswith("started:t")).split(":")[2])
    w.signal(signal.SIGTERM)
    assert w.wait(10) == 0
    [rec] = failures(r)
    assert rec["exception"] == "Resque::DirtyExit"
    assert rec["error"] == f"Child process received unhandled signal pid {child} SIGKILL (signal 9)"
    assert rec["payload"] == {"class": "Hooks::Slow", "args": ["t", 30]}
    assert rec["worker"] == wid and rec["queue"] == "default"
    assert [e for e in strings(r, "events") if e.startswith("on_failure")] == [
        "on_failure:RuntimeError:t"
    ]
    assert "finished:t" not in strings(r, "events")
    assert r.scard("resque:workers") == 0 and not r.exists(f"resque:worker:{wid}")


def test_term_in_process_raises_term_exception_in_the_job(resqued, app_dir, r):
    w = work(resqued, app_dir, "-q", "default", "--no-fork", lib="hook_jobs")
    push(r, "default", "Hooks::Slow", "t", 30)
    wait_for(lambda: any(e.startswith("started:t") for e in strings(r, "events")), 15, "started")
    w.signal(signal.SIGTERM)
    assert w.wait(10) == 0
    [rec] = failures(r)
    assert rec["exception"] == "resqued.worker.TermException" and rec["error"] == "SIGTERM"
    assert [e for e in strings(r, "events") if e.startswith("on_failure")] == [
        "on_failure:TermException:t"
    ]
    assert r.scard("resque:workers") == 0


def test_term_child_sends_term_to_the_job_first(resqued, app_dir, r):
    w = work(
        resqued,
        app_dir,
        "-q",
        "default",
        lib="hook_jobs",
        env={"TERM_CHILD": "1", "RESQUE_TERM_TIMEOUT": "10"},
    )
    push(r, "default", "Hooks::Slow", "t", 30)
    wait_for(lambda: any(e.startswith("started:t") for e in strings(r, "events")), 15, "started")
    w.signal(signal.SIGTERM)
    assert w.wait(8) == 0  # the job gave up on TERM: no need to wait for the KILL
    [rec] = failures(r)
    assert rec["exception"] == "resqued.worker.TermException"
    assert "caught:TermException" in strings(r, "events")
    assert [e for e in strings(r, "events") if e.startswith("on_failure")] == [
        "on_failure:TermException:t"
    ]


def test_term_child_kills_a_job_that_ignores_term_after_the_timeout(resqued, app_dir, r):
    w = work(
        resqued,
        app_dir,
        "-q",
        "default",
        lib="hook_jobs",
        env={"TERM_CHILD": "1", "RESQUE_TERM_TIMEOUT": "0.5"},
    )
    push(r, "default", "Hooks::Slow", "t", 30, True)
    wait_for(lambda: any(e.startswith("started:t") for e in strings(r, "events")), 15, "started")
    w.signal(signal.SIGTERM)
    assert w.wait(10) == 0
    assert "caught:TermException" in strings(r, "events")
    [rec] = failures(r)
    assert rec["exception"] == "Resque::DirtyExit" and "SIGKILL (signal 9)" in rec["error"]


@pytest.mark.parametrize("mode", ["--fork", "--no-fork"])
def test_usr1_kills_the_current_job_and_keeps_working(resqued, app_dir, r, mode):
    w = work(resqued, app_dir, "-q", "default", mode)
    wid = worker_id(r)
    push(r, "default", "Sleep", "a", 30)
    job_pid = started_pid(r)
    w.signal(signal.SIGUSR1)
    wait_for(lambda: r.llen("resque:failed") == 1, 10, "killed job recorded")
    [rec] = failures(r)
    if mode == "--fork":
        assert job_pid != w.pid
        assert rec["exception"] == "Resque::DirtyExit"
        assert rec["error"] == (
            f"Child process received unhandled signal pid {job_pid} SIGKILL (signal 9)"
        )
    else:
        assert job_pid == w.pid
        assert rec["exception"] == "resqued.worker.JobKilled"
        assert rec["error"] == "job killed by USR1"
        assert any("demo_jobs.py" in line for line in rec["backtrace"])  # raised inside perform
    assert rec["payload"] == {"class": "Sleep", "args": ["a", 30]}
    assert rec["worker"] == wid and rec["queue"] == "default"
    push(r, "default", "Record", "next")
    wait_for(lambda: r.llen("record") == 1, 10, "next job")
    [next_pid] = ran_in(r)
    assert (next_pid == w.pid) == (mode == "--no-fork")
    wait_for(lambda: r.get("resque:stat:processed") == b"2", 10, "both counted")
    assert r.get("resque:stat:failed") == b"1"
    assert w.popen.poll() is None and worker_id(r) == wid  # the same worker goes on
    assert strings(r, "finished") == []
    quit_(w)


def test_usr1_while_idle_does_not_kill_the_next_job(resqued, app_dir, r):
    w = work(resqued, app_dir, "-q", "default")
    idle(w)
    w.signal(signal.SIGUSR1)  # nothing to kill
    wait_reserves(r, 2)
    push(r, "default", "Record", "survivor")
    wait_for(lambda: r.llen("record") == 1 or r.llen("resque:failed"), 10, "job outcome")
    assert r.llen("resque:failed") == 0, failures(r)
    assert r.llen("record") == 1


def test_usr2_pauses_and_cont_resumes(resqued, app_dir, r):
    w = work(resqued, app_dir, "-q", "default", "--no-fork")
    idle(w)
    w.signal(signal.SIGUSR2)
    wait_for(lambda: f"{PREFIX}: Paused" in titles(w.pid), 10, "paused")
    before = reserves(r)
    push(r, "default", "Record", "x")
    wait_for(lambda: r.llen("resque:queue:default") == 1, 5, "queued")
    assert reserves(r) == before and r.llen("record") == 0  # a paused worker does not reserve
    w.signal(signal.SIGCONT)
    wait_for(lambda: r.llen("record") == 1, 10, "resumed")


def test_usr2_during_a_job_records_its_outcome_before_pausing(resqued, app_dir, r):
    w = work(resqued, app_dir, "-q", "default", "--no-fork")
    wid = worker_id(r)
    push(r, "default", "Sleep", "p", 1)
    started_pid(r)
    w.signal(signal.SIGUSR2)
    wait_for(lambda: r.llen("finished") == 1, 10, "job finished")
    wait_for(lambda: f"{PREFIX}: Paused" in titles(w.pid), 10, "paused")
    # resque-web must not show a paused worker as still working on the finished job
    wait_for(lambda: not r.exists(f"resque:worker:{wid}"), 5, "worker:<id> cleared while paused")
    assert r.get("resque:stat:processed") == b"1"
    w.signal(signal.SIGCONT)
    quit_(w)
