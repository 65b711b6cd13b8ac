"""`resqued work` performing jobs: fork per job, in process, recycling, titles, jobs that crash."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time

import pytest
from support.jobs import (
    PREFIX,
    failures,
    push,
    strings,
    work,
    worker_id,
)
from support.procs import ps, titles, wait_for
from support.worker import quit_, ran_in, started_pid


@pytest.mark.parametrize("mode", ["--fork", "--no-fork"])
def test_processes_jobs(resqued, app_dir, r, mode):
    for n in range(3):
        push(r, "default", "Record", n)
    push(r, "default", "Noop")
    w = work(resqued, app_dir, "-q", "default", mode)
    wid = worker_id(r)
    wait_for(lambda: r.get("resque:stat:processed") == b"4", 15, "4 jobs processed")
    assert [x.split(":")[0] for x in strings(r, "record")] == ["0", "1", "2"]
    pids = ran_in(r)
    if mode == "--fork":
        assert w.pid not in pids and len(set(pids)) == 3  # one child per job
    else:
        assert pids == [w.pid] * 3
    assert r.get(f"resque:stat:processed:{wid}") == b"4"
    assert r.llen("resque:failed") == 0 and not r.exists("resque:stat:failed")
    quit_(w)


@pytest.mark.parametrize("value", ["false", "off", "0", "no", " OFF "])
def test_fork_per_job_off_in_the_environment_works_in_process(resqued, app_dir, r, value):
    push(r, "default", "Record", "env")
    w = work(resqued, app_dir, "-q", "default", env={"FORK_PER_JOB": value})
    wait_for(lambda: r.llen("record") == 1, 15, "job")
    assert ran_in(r) == [w.pid]


@pytest.mark.parametrize("value", ["true", "on", "1", "yes", ""])
def test_fork_per_job_on_in_the_environment_forks(resqued, app_dir, r, value):
    push(r, "default", "Record", "env")
    w = work(resqued, app_dir, "-q", "default", env={"FORK_PER_JOB": value})
    wait_for(lambda: r.llen("record") == 1, 15, "job")
    [pid] = ran_in(r)
    assert pid != w.pid


@pytest.mark.parametrize("name", ["FORK_PER_JOB", "TERM_CHILD"])
def test_a_switch_that_is_neither_on_nor_off_is_a_one_line_error(resqued, app_dir, r, name):
    w = work(resqued, app_dir, "-q", "default", env={name: "maybe"})
    assert w.wait(20) == 1
    assert w.output().strip() == (
        f"resqued: {name} must be one of 1, true, yes, on or 0, false, no, off, not 'maybe'"
    )


@pytest.mark.parametrize(
    "args, env, n",
    [
        ((), {"JOBS_PER_FORK": "2", "FORK_PER_JOB": "false"}, 2),
        (("--no-fork", "--jobs-per-fork", "3"), {}, 3),
        (("--fork", "--jobs-per-fork", "3"), {}, 3),
    ],
)
def test_jobs_per_fork_exits_after_n_jobs(resqued, app_dir, r, args, env, n):
    for i in range(5):
        push(r, "default", "Record", i)
    w = work(resqued, app_dir, "-q", "default", *args, env=env)
    assert w.wait(20) == 0
    assert r.llen("record") == n and r.llen("resque:queue:default") == 5 - n
    assert r.get("resque:stat:processed") == str(n).encode()
    assert r.scard("resque:workers") == 0


@pytest.mark.parametrize("mode", ["--fork", "--no-fork"])
def test_proctitles(resqued, app_dir, r, mode):
    w = work(resqued, app_dir, "-q", "default", mode)
    wait_for(lambda: f"{PREFIX}: Waiting for default" in titles(w.pid), 15, "waiting title")
    push(r, "default", "Sleep", "t", 1.5)
    job_pid = started_pid(r)
    t = time.time()
    title = next(tt for p, tt in ((p, tt) for p, _, tt in ps()) if p == job_pid)
    m = re.fullmatch(rf"{re.escape(PREFIX)}: Processing default since (\d+) \[Sleep\]", title)
    assert m, title
    assert t - 10 <= int(m.group(1)) <= t + 1
    if mode == "--fork":
        parent = next(tt for p, _, tt in ps() if p == w.pid)
        assert re.fullmatch(rf"{re.escape(PREFIX)}: Forked {job_pid} at \d+", parent), parent
    # Ruby's own live-worker test finds us (else Ruby workers on this host would prune us)
    out = subprocess.run(
        "ps -A -o pid=,args= | grep -E '[r]esque:work|[r]esque: Starting|[r]esque-[0-9]'",
        shell=True,
        capture_output=True,
        text=True,
    ).stdout
    assert str(w.pid) in out.split()


@pytest.mark.parametrize("mode", ["--fork", "--no-fork"])
def test_a_job_calling_sys_exit_fails_and_the_worker_goes_on(resqued, app_dir, r, mode):
    push(r, "default", "Hooks::Exit", 3)
    push(r, "default", "Hooks::Full", "ok")
    w = work(resqued, app_dir, "-q", "default", mode, lib="hook_jobs")
    wait_for(lambda: "after" in strings(r, "events"), 15, "the job after the exiting one")
    [rec] = failures(r)
    assert rec["exception"] == "SystemExit" and rec["error"] == "3"
    assert w.popen.poll() is None


def test_sigkill_of_the_job_child_is_a_dirty_exit(resqued, app_dir, r):
    w = work(resqued, app_dir, "-q", "default")
    push(r, "default", "Sleep", "k", 30)
    child = started_pid(r)
    assert child != w.pid
    os.kill(child, signal.SIGKILL)
    wait_for(lambda: r.llen("resque:failed") == 1, 10, "dirty exit recorded")
    rec = failures(r)[0]
    assert rec["exception"] == "Resque::DirtyExit"
    assert rec["error"] == f"Child process received unhandled signal pid {child} SIGKILL (signal 9)"
    assert rec["payload"] == {"class": "Sleep", "args": ["k", 30]}
    push(r, "default", "Record", "next")
    wait_for(lambda: r.llen("record") == 1, 10, "the worker goes on")


def test_a_grandchild_left_running_by_a_job_does_not_stall_the_worker(resqued, app_dir, r):
    push(r, "default", "Hooks::Spawner", 30)
    push(r, "default", "Hooks::Full", "ok")
    w = work(resqued, app_dir, "-q", "default", lib="hook_jobs")
    try:
        wait_for(
            lambda: "after" in strings(r, "events"),
            10,
            "the next job while the grandchild still runs",
        )
        assert r.llen("resque:failed") == 0
        wait_for(lambda: r.get("resque:stat:processed") == b"2", 5, "both counted")
    finally:
        for e in strings(r, "events"):
            if e.startswith("grandchild:"):
                try:
                    os.kill(int(e.split(":")[1]), signal.SIGKILL)
                except ProcessLookupError:
                    pass
    assert w.popen.poll() is None
