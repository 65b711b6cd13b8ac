"""Job classes and Resque's job and worker hooks in a real worker."""

from __future__ import annotations

import signal

import pytest
from support.jobs import failures, push, strings, work, worker_id
from support.procs import wait_for

# -- resolution -------------------------------------------------------------------------------------


def test_unknown_and_unimported_classes_fail_and_the_worker_goes_on(resqued, app_dir, r):
    push(r, "default", "Nope::Missing", 1)
    push(r, "default", "evil_import.Boom", 2)  # a real module next to the app: never imported
    push(r, "default", "os.system", "touch /tmp/pwned")
    push(r, "default", "demo_jobs.Record", "by-path")  # -r demo_jobs allows its dotted paths
    push(r, "default", "Record", "by-name")
    w = work(resqued, app_dir, "-q", "default")
    wid = worker_id(r)
    wait_for(lambda: r.llen("record") == 2, 15, "the good jobs after the bad ones")
    assert [x.split(":")[0] for x in strings(r, "record")] == ["by-path", "by-name"]
    recs = failures(r)
    assert [f["payload"]["class"] for f in recs] == [
        "Nope::Missing",
        "evil_import.Boom",
        "os.system",
    ]
    for rec in recs:
        assert rec["exception"] == "resqued.UnknownJobClass"
        assert repr(rec["payload"]["class"]) in rec["error"]
        assert "not registered" in rec["error"]
        assert rec["worker"] == wid and rec["queue"] == "default"
    assert not r.exists("evil-imported")
    wait_for(lambda: r.get("resque:stat:processed") == b"5", 10, "all five counted")
    assert r.get("resque:stat:failed") == b"3"
    assert w.popen.poll() is None


# -- job hooks -------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["--fork", "--no-fork"])
def test_hooks_around_a_successful_job(resqued, app_dir, r, mode):
    w = work(resqued, app_dir, "-q", "default", mode, lib="hook_jobs")
    push(r, "default", "Hooks::Full", "ok")
    wait_for(lambda: "after" in strings(r, "events"), 15, "job done")
    events = [e for e in strings(r, "events") if not e.startswith("w:")]
    assert events[:4] == ["before_a", "before_b", "around_a in", "around_b in"]
    assert events[4].startswith("perform:")
    assert events[5:] == ["around_b out", "around_a out", "after"]
    performed_in = int(events[4].split(":")[1])
    assert (performed_in != w.pid) == (mode == "--fork")
    assert r.llen("resque:failed") == 0


def test_after_perform_only_on_success_and_on_failure_exactly_once(resqued, app_dir, r):
    work(resqued, app_dir, "-q", "default", lib="hook_jobs")
    push(r, "default", "Hooks::Full", "fail")
    wait_for(lambda: r.llen("resque:failed") == 1, 15, "failure recorded")
    events = [e for e in strings(r, "events") if not e.startswith("w:")]
    assert events[:4] == ["before_a", "before_b", "around_a in", "around_b in"]
    assert events[5:] == ["on_failure:ValueError:job said no:fail"]  # no "out", no "after"
    rec = failures(r)[0]
    assert rec["exception"] == "ValueError" and rec["error"] == "job said no"


def test_dont_perform_skips_the_job_quietly(resqued, app_dir, r):
    work(resqued, app_dir, "-q", "default", "--no-fork", lib="hook_jobs")
    push(r, "default", "Hooks::Full", "skip")
    push(r, "default", "Hooks::Full", "ok")
    wait_for(lambda: "after" in strings(r, "events"), 15, "the next job")
    events = [e for e in strings(r, "events") if not e.startswith("w:")]
    assert events[0] == "before_a"  # DontPerform: not even the next before hook
    assert events[1] == "before_a" and events.count("after") == 1
    assert sum(e.startswith("perform:") for e in events) == 1
    assert r.llen("resque:failed") == 0
    wait_for(lambda: r.get("resque:stat:processed") == b"2", 10, "both counted as processed")


def test_on_failure_runs_once_for_a_dirty_exit(resqued, app_dir, r):
    w = work(resqued, app_dir, "-q", "default", lib="hook_jobs")
    push(r, "default", "Hooks::SelfKill", "k")
    push(r, "default", "Hooks::Full", "ok")
    wait_for(lambda: "after" in strings(r, "events"), 15, "the next job")
    [rec] = failures(r)
    assert rec["exception"] == "Resque::DirtyExit"
    assert "SIGKILL (signal 9)" in rec["error"]
    hooked = [e for e in strings(r, "events") if e.startswith("on_failure")]
    assert len(hooked) == 1 and hooked[0].startswith("on_failure:") and hooked[0].endswith(":k")
    assert "SIGKILL" in hooked[0]
    w.signal(signal.SIGQUIT)
    assert w.wait(20) == 0
    assert len([e for e in strings(r, "events") if e.startswith("on_failure")]) == 1


def test_on_failure_runs_once_when_a_dead_worker_is_pruned(resqued, app_dir, r):
    w = work(resqued, app_dir, "-q", "default", "--no-fork", lib="hook_jobs")
    push(r, "default", "Hooks::Slow", "lost", 30)
    wait_for(
        lambda: any(e.startswith("started:lost") for e in strings(r, "events")), 15, "job started"
    )
    w.signal(signal.SIGKILL)
    w.wait(10)
    pruner = work(resqued, app_dir, "-q", "other", "--no-fork", lib="hook_jobs")
    wait_for(lambda: r.llen("resque:failed") == 1, 15, "job failed by prune")
    assert failures(r)[0]["exception"] == "Resque::DirtyExit"
    wait_for(
        lambda: [e for e in strings(r, "events") if e.startswith("on_failure")],
        10,
        "on_failure hook",
    )
    pruner.signal(signal.SIGQUIT)
    assert pruner.wait(20) == 0
    assert [e for e in strings(r, "events") if e.startswith("on_failure")] == [
        "on_failure:RuntimeError:lost"
    ]


# -- worker hooks ----------------------------------------------------------------------------------


def test_worker_hooks_run_where_resque_runs_them(resqued, app_dir, r):
    r.set("note_queue_empty", 1)
    w = work(resqued, app_dir, "-q", "default", lib="hook_jobs")
    wait_for(
        lambda: any(e.startswith("w:queue_empty") for e in strings(r, "events")), 15, "queue_empty"
    )
    push(r, "default", "Hooks::Full", "ok")
    wait_for(lambda: "after" in strings(r, "events"), 15, "job done")
    w.signal(signal.SIGUSR2)
    wait_for(
        lambda: any(e.startswith("w:before_pause") for e in strings(r, "events")), 10, "paused"
    )
    w.signal(signal.SIGCONT)
    wait_for(
        lambda: any(e.startswith("w:after_pause") for e in strings(r, "events")), 10, "resumed"
    )
    w.signal(signal.SIGQUIT)
    assert w.wait(20) == 0
    events = [e for e in strings(r, "events") if e.startswith("w:")]
    kinds = [e.split(":")[1] for e in events]
    assert kinds == [
        "before_first_fork",
        "queue_empty",
        "before_fork",
        "after_fork",
        "before_pause",
        "after_pause",
        "shutdown",
        "worker_exit",
    ]
    pids = {e.split(":")[1]: int(e.split(":")[2]) for e in events}
    child = int(next(e for e in strings(r, "events") if e.startswith("perform:")).split(":")[1])
    assert pids["after_fork"] == child != w.pid
    assert all(pid == w.pid for kind, pid in pids.items() if kind != "after_fork")
    assert events[2].endswith(":Hooks::Full") and events[3].endswith(":Hooks::Full")
