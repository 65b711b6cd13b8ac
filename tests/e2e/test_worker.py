"""`resqued work` end to end: the real command, real signals, Redis state as Ruby Resque keeps it."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time

import pytest
from support import ROOT
from support.jobs import (
    PREFIX,
    failures,
    idle,
    push,
    push_raw,
    reserves,
    strings,
    wait_reserves,
    work,
    worker_id,
)
from support.procs import ps, titles, wait_for
from support.redis_server import ExtraRedis


def ran_in(r, key="record") -> list[int]:
    return [int(x.rsplit(":", 1)[1]) for x in strings(r, key)]


def started_pid(r) -> int:
    return int(wait_for(lambda: strings(r, "started"), 15, "job started")[0].split(":")[1])


def quit_(w) -> None:
    w.signal(signal.SIGQUIT)
    assert w.wait(20) == 0


# -- processing ----------------------------------------------------------------------------------


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


def test_fork_per_job_false_in_the_environment_works_in_process(resqued, app_dir, r):
    push(r, "default", "Record", "env")
    w = work(resqued, app_dir, "-q", "default", env={"FORK_PER_JOB": "false"})
    wait_for(lambda: r.llen("record") == 1, 15, "job")
    assert ran_in(r) == [w.pid]


def test_queue_env_var_names_the_queues(resqued, app_dir, r):
    push(r, "b", "Record", "b")
    push(r, "a", "Record", "a")
    w = resqued(
        "work", "-r", "demo_jobs", "-i", "1", "--no-fork", cwd=app_dir, env={"QUEUES": "a,b"}
    )
    wait_for(lambda: r.llen("record") == 2, 15, "jobs")
    assert worker_id(r).endswith(":a,b")
    assert [x.split(":")[0] for x in strings(r, "record")] == ["a", "b"]
    quit_(w)


def test_queue_order_is_priority(resqued, app_dir, r):
    for n in range(4):
        push(r, "low", "Record", f"low{n}")
        push(r, "high", "Record", f"high{n}")
    w = work(resqued, app_dir, "-q", "high", "-q", "low", "--no-fork")
    wait_for(lambda: r.llen("record") == 8, 15, "all jobs")
    assert [x.split(":")[0] for x in strings(r, "record")] == [
        "high0",
        "high1",
        "high2",
        "high3",
        "low0",
        "low1",
        "low2",
        "low3",
    ]
    assert worker_id(r).endswith(":high,low")
    quit_(w)


def test_patterns_are_expanded_on_every_reserve(resqued, app_dir, r):
    push(r, "b", "Record", "b")
    push(r, "a", "Record", "a")
    push(r, "low", "Record", "low")
    w = work(resqued, app_dir, "-q", "*", "-q", "!low", "--no-fork", "-i", "0.2")
    wait_for(lambda: r.llen("record") == 2, 15, "a and b")
    assert [x.split(":")[0] for x in strings(r, "record")] == ["a", "b"]  # * is A-Z
    idle(w, "*,!low")
    push(r, "fresh", "Record", "fresh")  # a queue created after the worker started
    wait_for(lambda: r.llen("record") == 3, 10, "job on a new queue")
    push(r, "low", "Record", "low2")
    wait_reserves(r, 2)
    assert r.llen("resque:queue:low") == 2  # excluded, still there
    quit_(w)


def test_idle_worker_wakes_promptly(resqued, app_dir, r):
    w = resqued(
        "work", "-r", "demo_jobs", "-q", "default", "--no-fork", cwd=app_dir, env={"INTERVAL": "30"}
    )
    idle(w)
    push(r, "default", "Record", "x")
    wait_for(lambda: r.llen("record") == 1, 5, "job picked up long before INTERVAL=30")
    push(r, "default", "Record", "y")  # and again, after the first wake-up
    wait_for(lambda: r.llen("record") == 2, 5, "second job picked up promptly")


def test_wildcard_worker_notices_a_new_queue_promptly(resqued, app_dir, r):
    w = resqued(
        "work", "-r", "demo_jobs", "-q", "*", "--no-fork", cwd=app_dir, env={"INTERVAL": "30"}
    )
    idle(w, "*")
    push(r, "brand_new", "Record", "x")
    wait_for(lambda: r.llen("record") == 1, 5, "job on a queue created while idle")


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


# -- Redis state -----------------------------------------------------------------------------------


def test_registry_keys_while_running_and_after_exit(resqued, app_dir, r):
    t0 = int(time.time())
    w = work(resqued, app_dir, "-q", "default")
    wid = worker_id(r)
    host, pid, queues = wid.split(":")
    assert (host, pid, queues) == (__import__("socket").gethostname(), str(w.pid), "default")
    started = r.get(f"resque:worker:{wid}:started").decode()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000", started)
    assert (
        abs(time.mktime(time.strptime(started, "%Y-%m-%d %H:%M:%S +0000")) - time.timezone - t0)
        <= 5
    )
    beat = r.hget("resque:workers:heartbeat", wid).decode()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", beat)
    assert not r.exists(f"resque:worker:{wid}")  # only while a job runs

    raw = push(r, "default", "Sleep", "s", 1.5, enqueue_timestamp=1)
    started_pid(r)
    doing = r.get(f"resque:worker:{wid}")
    assert doing.startswith(b'{"queue":"default","run_at":"')
    assert doing.endswith(b',"payload":' + raw + b"}")  # the payload exactly as queued
    run_at = json.loads(doing)["run_at"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", run_at)
    wait_for(lambda: r.llen("finished") == 1, 10, "job finished")
    wait_for(lambda: not r.exists(f"resque:worker:{wid}"), 10, "worker:<id> cleared")
    assert r.get("resque:stat:processed") == b"1"
    assert r.get(f"resque:stat:processed:{wid}") == b"1"

    push(r, "default", "Fail", "nope")
    wait_for(lambda: r.get("resque:stat:failed") == b"1", 10, "failure counted")
    wait_for(lambda: r.get("resque:stat:processed") == b"2", 10, "failed job counted processed")
    assert r.get(f"resque:stat:failed:{wid}") == b"1"
    assert r.get(f"resque:stat:processed:{wid}") == b"2"

    quit_(w)
    app_keys = {b"record", b"started", b"finished"}
    assert set(r.keys("*")) - app_keys == {
        b"resque:queues",
        b"resque:failed",
        b"resque:stat:processed",
        b"resque:stat:failed",
    }
    assert r.get("resque:stat:processed") == b"2" and r.get("resque:stat:failed") == b"1"


def test_heartbeat_is_taken_from_the_redis_clock(resqued, app_dir, r):
    w = work(resqued, app_dir, "-q", "default")
    wid = worker_id(r)
    from datetime import datetime

    beat = datetime.fromisoformat(r.hget("resque:workers:heartbeat", wid).decode()).timestamp()
    sec, _ = r.time()
    assert abs(beat - sec) <= 5
    quit_(w)


@pytest.mark.parametrize("value", ["true", " TRUE\n", "True"])
def test_pause_all_workers_stops_reserving_until_removed(resqued, app_dir, r, value):
    r.set("resque:pause-all-workers", value)
    w = work(resqued, app_dir, "-q", "default", "--no-fork", "-i", "0.2")
    wait_for(lambda: f"{PREFIX}: Paused" in titles(w.pid), 15, "paused title")
    push(r, "default", "Record", "x")
    wait_reserves(r, 2)
    assert r.llen("resque:queue:default") == 1 and r.llen("record") == 0
    r.delete("resque:pause-all-workers")
    wait_for(lambda: r.llen("record") == 1, 10, "resumed")


def test_pause_all_workers_is_honoured_by_an_idle_worker(resqued, app_dir, r):
    w = work(resqued, app_dir, "-q", "default", "--no-fork")  # idle waits of 1 s
    idle(w)
    r.set("resque:pause-all-workers", "true")
    push(r, "default", "Record", "x")  # arrives while the worker waits for work
    wait_for(lambda: f"{PREFIX}: Paused" in titles(w.pid), 10, "paused title")
    wait_reserves(r, 2)
    assert r.llen("record") == 0
    assert r.llen("resque:queue:default") == 1  # left on its queue for anyone
    r.set("resque:pause-all-workers", "false")
    wait_for(lambda: r.llen("record") == 1, 10, "resumed")


def test_a_pause_value_other_than_true_does_not_pause(resqued, app_dir, r):
    r.set("resque:pause-all-workers", "no")
    push(r, "default", "Record", "x")
    work(resqued, app_dir, "-q", "default", "--no-fork")
    wait_for(lambda: r.llen("record") == 1, 15, "job")


# -- signals ---------------------------------------------------------------------------------------


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
    push(r, "default", "Sleep", "a", 30)
    started_pid(r)
    w.signal(signal.SIGUSR1)
    wait_for(lambda: r.llen("resque:failed") == 1, 10, "killed job recorded")
    rec = failures(r)[0]
    if mode == "--fork":
        assert rec["exception"] == "Resque::DirtyExit" and "SIGKILL" in rec["error"]
    else:
        assert rec["exception"] == "resqued.worker.JobKilled"
    push(r, "default", "Record", "next")
    wait_for(lambda: r.llen("record") == 1, 10, "next job")
    assert w.popen.poll() is None and strings(r, "finished") == []


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


# -- proctitles ------------------------------------------------------------------------------------


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


# -- bad input and crashes ----------------------------------------------------------------------------


def test_malformed_payloads_fail_with_the_raw_text_and_the_worker_goes_on(resqued, app_dir, r):
    bad = [
        b"{not json",
        b"[1,2]",
        b'{"args":[1]}',
        b'{"class":5,"args":[]}',
        b'"just text"',
        '{"class":"","args":["ü"]}'.encode(),
        b"\xff\xfe bytes",
    ]
    for raw in bad:
        push_raw(r, "default", raw)
    push(r, "default", "Record", "after")
    w = work(resqued, app_dir, "-q", "default")
    wid = worker_id(r)
    wait_for(lambda: r.llen("record") == 1, 15, "the good job after the bad ones")
    recs = failures(r)
    assert len(recs) == len(bad)
    for rec, raw in zip(recs, bad, strict=True):
        assert list(rec) == [
            "failed_at",
            "payload",
            "exception",
            "error",
            "backtrace",
            "worker",
            "queue",
        ]
        assert rec["exception"] == "resqued.MalformedPayload"
        assert rec["payload"] == {
            "class": "resqued.MalformedPayload",
            "args": [raw.decode("utf-8", "replace")],
        }
        assert rec["worker"] == wid and rec["queue"] == "default" and rec["error"]
    assert "not valid JSON" in recs[0]["error"] and "list" in recs[1]["error"]
    assert '"class"' in recs[2]["error"]
    wait_for(
        lambda: r.get("resque:stat:processed") == str(len(bad) + 1).encode(), 10, "all counted"
    )
    assert r.get("resque:stat:failed") == str(len(bad)).encode()
    assert w.popen.poll() is None and "Traceback" not in w.output()


def test_sigkill_of_the_job_child_is_a_dirty_exit(resqued, app_dir, r):
    w = work(resqued, app_dir, "-q", "default")
    push(r, "default", "Sleep", "k", 30)
    child = started_pid(r)
    assert child != w.pid
    import os

    os.kill(child, signal.SIGKILL)
    wait_for(lambda: r.llen("resque:failed") == 1, 10, "dirty exit recorded")
    rec = failures(r)[0]
    assert rec["exception"] == "Resque::DirtyExit"
    assert rec["error"] == f"Child process received unhandled signal pid {child} SIGKILL (signal 9)"
    assert rec["payload"] == {"class": "Sleep", "args": ["k", 30]}
    push(r, "default", "Record", "next")
    wait_for(lambda: r.llen("record") == 1, 10, "the worker goes on")


@pytest.mark.parametrize("mode", ["--fork", "--no-fork"])
def test_sigkill_of_the_worker_loses_nothing(resqued, app_dir, r, mode):
    w = work(resqued, app_dir, "-q", "default", mode)
    dead_id = worker_id(r)
    raw = push(r, "default", "Sleep", "lost?", 30, enqueue_timestamp=7)
    push(r, "default", "Record", "waiting")
    job_pid = started_pid(r)
    w.signal(signal.SIGKILL)
    w.wait(10)
    if job_pid != w.pid:  # an orphaned job child: gone with its worker for this test
        import os

        os.kill(job_pid, signal.SIGKILL)
    assert r.sismember("resque:workers", dead_id)
    # The next worker on this host prunes the dead one: the job lands in failed.
    nxt = work(resqued, app_dir, "-q", "other", "--no-fork")
    wait_for(lambda: r.llen("resque:failed") == 1, 15, "job failed by prune")
    record = r.lindex("resque:failed", 0)
    rec = json.loads(record)
    assert rec["exception"] == "Resque::DirtyExit" and rec["worker"] == dead_id
    assert b'"payload":' + raw in record
    assert r.llen("resque:queue:default") == 1  # the job behind it is untouched
    wait_for(lambda: not r.sismember("resque:workers", dead_id), 10, "dead worker gone")
    assert not r.exists(f"resque:worker:{dead_id}", f"resque:worker:{dead_id}:started")
    assert r.hget("resque:workers:heartbeat", dead_id) is None
    quit_(nxt)


def test_a_cleared_per_worker_count_does_not_replay_the_job(resqued, app_dir, r):
    """Resque::Stat.clear (or a Redis restarted empty) must not make the worker loop on a job."""
    w = work(resqued, app_dir, "-q", "default", "--no-fork", "-i", "0.2")
    wid = worker_id(r)
    push(r, "default", "Record", "a")
    wait_for(lambda: r.get(f"resque:stat:processed:{wid}") == b"1", 15, "first job counted")
    r.delete(f"resque:stat:processed:{wid}")
    push(r, "default", "Record", "b")
    wait_for(lambda: r.llen("record") == 2, 15, "second job")
    wait_for(lambda: not r.exists(f"resque:worker:{wid}"), 10, "second job finished")
    wait_reserves(r, 2)
    assert [x.split(":")[0] for x in strings(r, "record")] == ["a", "b"]
    assert r.get("resque:stat:processed") == b"2"
    quit_(w)


def test_jobs_per_fork_exits_after_n_jobs(resqued, app_dir, r):
    for n in range(5):
        push(r, "default", "Record", n)
    w = work(resqued, app_dir, "-q", "default", env={"JOBS_PER_FORK": "2", "FORK_PER_JOB": "false"})
    assert w.wait(20) == 0
    assert r.llen("record") == 2 and r.llen("resque:queue:default") == 3
    assert r.get("resque:stat:processed") == b"2"
    assert r.scard("resque:workers") == 0


# -- Redis trouble -----------------------------------------------------------------------------------


def _outage_lines(w) -> list[str]:
    return [line for line in w.output().splitlines() if "unavailable" in line]


def test_worker_started_while_redis_is_down_waits_for_it(resqued, app_dir, tmp_path):
    server = ExtraRedis(tmp_path)
    url = server.url
    w = resqued(
        "work",
        "-r",
        "demo_jobs",
        "-q",
        "default",
        "-i",
        "1",
        "--no-fork",
        "--redis",
        url,
        cwd=app_dir,
        env={"REDIS_URL": url},
        redis=False,
    )
    try:
        wait_for(lambda: _outage_lines(w), 15, "outage logged")
        assert w.popen.poll() is None
        server.start()
        client = server.client()
        wait_for(lambda: client.scard("resque:workers") == 1, 15, "registered once Redis is up")
        push(client, "default", "Record", "late")
        wait_for(lambda: client.llen("record") == 1, 15, "job after Redis came up")
        assert len(_outage_lines(w)) == 1, w.output()
        assert "Traceback" not in w.output()
        quit_(w)
    finally:
        server.stop()


def test_redis_going_away_mid_run_is_retried_and_logged_once(resqued, app_dir, tmp_path):
    server = ExtraRedis(tmp_path)
    server.start()
    url = server.url
    w = resqued(
        "work",
        "-r",
        "demo_jobs",
        "-q",
        "default",
        "-i",
        "1",
        "--no-fork",
        "--redis",
        url,
        cwd=app_dir,
        env={"REDIS_URL": url},
        redis=False,
    )
    try:
        client = server.client()
        wait_for(lambda: client.scard("resque:workers") == 1, 15, "registered")
        push(client, "default", "Record", "before")
        wait_for(lambda: client.llen("record") == 1, 15, "job before the outage")
        server.stop()
        wait_for(lambda: _outage_lines(w), 15, "outage logged")
        server.start()  # same port, empty data
        client = server.client()
        push(client, "default", "Record", "after")
        wait_for(lambda: client.llen("record") == 1, 20, "job after the outage")
        wait_for(lambda: client.get("resque:stat:processed") == b"1", 10, "counted")
        wait_reserves(client, 2)
        assert client.llen("record") == 1  # performed once, not handed back again and again
        assert len(_outage_lines(w)) == 1, w.output()
        assert w.output().count("is back") == 1
        assert "Traceback" not in w.output()
        quit_(w)
    finally:
        server.stop()


@pytest.mark.parametrize(
    "url",
    ["http://x", "redis://host:notaport", "redis://:pw@h:99999/0", "redis://h/notadb", "redis://"],
)
def test_bad_redis_url_is_a_one_line_error(url):
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-m", "resqued.cli", "work", "--redis", url],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert out.returncode != 0
    text = out.stderr + out.stdout
    assert len(text.strip().splitlines()) == 1, text
    assert "Redis URL" in text and "Traceback" not in text
    assert ":pw@" not in text


def test_password_never_in_logs_or_proctitles(resqued, app_dir, tmp_path):
    secret = "s3cr3t-PW-9"
    server = ExtraRedis(tmp_path, password=secret)
    server.start()
    url = server.url
    assert secret in url
    try:
        w = resqued(
            "work",
            "-r",
            "demo_jobs",
            "-q",
            "default",
            "-i",
            "1",
            "-v",
            "--redis",
            url,
            cwd=app_dir,
            env={"REDIS_URL": url},
            redis=False,
        )
        client = server.client()
        wait_for(lambda: client.scard("resque:workers") == 1, 15, "registered with the password")
        push(client, "default", "Sleep", "s", 1)
        wait_for(lambda: client.llen("started") == 1, 15, "job running")
        every = titles(w.pid)
        assert len(every) >= 2 and not any(secret in t for t in every), every
        for p in [w.pid] + [int(x.split(b":")[1]) for x in client.lrange("started", 0, -1)]:
            try:
                with open(f"/proc/{p}/cmdline", "rb") as f:
                    assert secret.encode() not in f.read()
            except FileNotFoundError:
                pass
        wait_for(lambda: client.llen("finished") == 1, 15, "job done")
        server.stop()
        wait_for(lambda: _outage_lines(w), 15, "outage logged")
        assert "127.0.0.1" in _outage_lines(w)[0]
        assert secret not in w.output()
    finally:
        server.stop()


@pytest.mark.parametrize("mode", ["--fork", "--no-fork"])
def test_a_job_calling_sys_exit_fails_and_the_worker_goes_on(resqued, app_dir, r, mode):
    push(r, "default", "Hooks::Exit", 3)
    push(r, "default", "Hooks::Full", "ok")
    w = work(resqued, app_dir, "-q", "default", mode, lib="hook_jobs")
    wait_for(lambda: "after" in strings(r, "events"), 15, "the job after the exiting one")
    [rec] = failures(r)
    assert rec["exception"] == "SystemExit" and rec["error"] == "3"
    assert w.popen.poll() is None


def test_usr1_while_idle_does_not_kill_the_next_job(resqued, app_dir, r):
    w = work(resqued, app_dir, "-q", "default")
    idle(w)
    w.signal(signal.SIGUSR1)  # nothing to kill
    wait_reserves(r, 2)
    push(r, "default", "Record", "survivor")
    wait_for(lambda: r.llen("record") == 1 or r.llen("resque:failed"), 10, "job outcome")
    assert r.llen("resque:failed") == 0, failures(r)
    assert r.llen("record") == 1


def test_quit_while_redis_is_down_exits(resqued, app_dir, tmp_path):
    server = ExtraRedis(tmp_path)  # never started
    w = resqued(
        "work",
        "-r",
        "demo_jobs",
        "-q",
        "default",
        "-i",
        "1",
        "--redis",
        server.url,
        cwd=app_dir,
        env={"REDIS_URL": server.url},
        redis=False,
    )
    wait_for(lambda: _outage_lines(w), 15, "outage logged")
    w.signal(signal.SIGQUIT)
    assert w.wait(10) == 0
    assert "Traceback" not in w.output()


def test_quit_while_paused_exits(resqued, app_dir, r):
    w = work(resqued, app_dir, "-q", "default", "--no-fork")
    idle(w)
    w.signal(signal.SIGUSR2)
    wait_for(lambda: f"{PREFIX}: Paused" in titles(w.pid), 10, "paused")
    w.signal(signal.SIGQUIT)
    assert w.wait(10) == 0
    assert r.scard("resque:workers") == 0


@pytest.mark.parametrize("mode", ["--fork", "--no-fork"])
def test_lone_surrogates_in_a_payload_do_not_break_the_worker(resqued, app_dir, r, mode):
    raw = b'{"class":"Fail","args":["bad \\udcff text"]}'  # valid JSON, not valid UTF-8 text
    push_raw(r, "default", raw)
    push(r, "default", "Record", "after")
    w = work(resqued, app_dir, "-q", "default", mode)
    wait_for(lambda: r.llen("record") == 1, 15, "the job after")
    [rec] = failures(r)
    assert rec["exception"] == "RuntimeError" and rec["error"].startswith("bad ")
    assert rec["payload"]["class"] == "Fail"
    assert w.popen.poll() is None


def test_prune_survives_garbage_left_by_dead_workers(resqued, app_dir, r):
    import socket

    from support.procs import dead_pid

    host = socket.gethostname()
    garbage = {
        f"{host}:{dead_pid()}:a": b'"just a string"',
        f"{host}:{dead_pid()}:b": b'{"queue":"b","payload":[1,2]}',
        f"{host}:{dead_pid()}:c": b"\xff not json",
        f"{host}:{dead_pid()}:d": b'{"queue":7,"payload":{"class":"Record","args":"x"}}',
    }
    for wid, value in garbage.items():
        r.sadd("resque:workers", wid)
        r.set(f"resque:worker:{wid}", value)
    r.sadd("resque:workers", "no-colons-at-all", f"{host}:notapid:q", f"{host}::")
    w = work(resqued, app_dir, "-q", "default", "--no-fork")
    idle(w)
    assert r.llen("resque:failed") == len(garbage)
    for rec in failures(r):
        assert rec["exception"] == "Resque::DirtyExit" and rec["worker"] in garbage
    assert not any(r.exists(f"resque:worker:{wid}") for wid in garbage)
    assert {x.decode() for x in r.smembers("resque:workers")} & set(garbage) == set()
    push(r, "default", "Record", "still working")
    wait_for(lambda: r.llen("record") == 1, 10, "job")
    assert "Traceback" not in w.output()


@pytest.mark.parametrize("queues, pause", [("*", False), ("default", True)])
def test_interval_zero_does_not_spin(resqued, app_dir, r, queues, pause):
    """INTERVAL=0 polls, paused or idle on patterns matching nothing, must not hammer Redis."""
    if pause:
        r.set("resque:pause-all-workers", "true")
    w = resqued(
        "work", "-r", "demo_jobs", "-q", queues, "--no-fork", cwd=app_dir, env={"INTERVAL": "0"}
    )
    worker_id(r)
    wait_reserves(r, 1)
    start, t0 = reserves(r), time.monotonic()
    wait_for(
        lambda: time.monotonic() - t0 >= 1.0 or reserves(r) - start > 100,
        10,
        "a second, or a flood of reserves",
    )
    assert reserves(r) - start <= 40, "the worker spins on Redis"
    assert w.popen.poll() is None


def test_a_queue_name_that_is_not_utf8_does_not_crash_a_wildcard_worker(resqued, app_dir, r):
    r.sadd("resque:queues", b"bad\xff")
    r.rpush("resque:queue:bad\xff".encode("latin-1"), b'{"class":"Record","args":["odd"]}')
    w = work(resqued, app_dir, "-q", "*", "--no-fork")
    wait_for(lambda: r.llen("record") == 1, 15, "the job on the odd queue")
    idle(w, "*")
    push(r, "default", "Record", "normal")
    wait_for(lambda: r.llen("record") == 2, 10, "the next job")
    assert w.popen.poll() is None and "Traceback" not in w.output()


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
                import os

                try:
                    os.kill(int(e.split(":")[1]), signal.SIGKILL)
                except ProcessLookupError:
                    pass
    assert w.popen.poll() is None
