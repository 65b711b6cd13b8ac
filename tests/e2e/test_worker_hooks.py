"""What a raising worker hook does (the policy in resqued/hooks.py), in a real worker."""

from __future__ import annotations

import signal

import pytest
from support.jobs import PREFIX, failures, idle, push, strings, work, worker_id
from support.procs import titles, wait_for
from support.worker import events, quit_


def hooked(resqued, app_dir, *args):
    return work(resqued, app_dir, "-q", "default", *args, lib="failing_hooks")


@pytest.mark.parametrize("kind", ["before_fork", "after_fork"])
def test_a_raising_fork_hook_fails_that_job_and_the_worker_goes_on(resqued, app_dir, r, kind):
    r.set(f"fail:{kind}", "once")
    push(r, "default", "Job", "first")
    push(r, "default", "Job", "second")
    w = hooked(resqued, app_dir)
    wid = worker_id(r)
    wait_for(lambda: strings(r, "done") == ["second"], 15, "the next job")
    [rec] = failures(r)
    assert rec["exception"] == "RuntimeError" and rec["error"] == f"{kind} said no"
    assert rec["payload"] == {"class": "Job", "args": ["first"]}
    assert rec["worker"] == wid and rec["queue"] == "default"
    assert any("failing_hooks.py" in line for line in rec["backtrace"])
    assert events(r, "on_failure") == [f"on_failure:RuntimeError:{kind} said no:first"]
    wait_for(lambda: r.get("resque:stat:processed") == b"2", 10, "both counted")
    assert r.get("resque:stat:failed") == b"1"
    quit_(w)
    assert "Traceback" not in w.output()


def test_a_raising_before_first_fork_hook_stops_the_worker(resqued, app_dir, r):
    r.set("fail:before_first_fork", "always")
    push(r, "default", "Job", "never")
    w = hooked(resqued, app_dir)
    assert w.wait(20) == 1
    lines = [line for line in w.output().splitlines() if "before_first_fork" in line]
    assert len(lines) == 1 and "RuntimeError: before_first_fork said no" in lines[0], w.output()
    assert "the worker stops" in lines[0] and "Traceback" not in w.output()
    assert r.llen("resque:queue:default") == 1 and r.llen("done") == 0
    assert r.scard("resque:workers") == 0 and r.llen("resque:failed") == 0


def test_a_raising_before_first_fork_hook_stops_a_threaded_worker_too(resqued, app_dir, r):
    r.set("fail:before_first_fork", "always")
    w = hooked(resqued, app_dir, "--threads", "2")
    assert w.wait(20) == 1
    assert "the worker stops" in w.output() and "Traceback" not in w.output()
    assert r.scard("resque:workers") == 0


@pytest.mark.parametrize("mode", ["--fork", "--no-fork"])
def test_other_raising_worker_hooks_are_logged_and_ignored(resqued, app_dir, r, mode):
    kinds = ["queue_empty", "before_pause", "after_pause", "shutdown", "worker_exit"]
    for kind in kinds:
        r.set(f"fail:{kind}", "always")
    w = hooked(resqued, app_dir, mode)
    idle(w)
    push(r, "default", "Job", "a")
    wait_for(lambda: strings(r, "done") == ["a"], 15, "job done")
    w.signal(signal.SIGUSR2)
    wait_for(lambda: f"{PREFIX}: Paused" in titles(w.pid), 10, "paused")
    w.signal(signal.SIGCONT)
    wait_for(lambda: events(r, "after_pause"), 10, "resumed")
    push(r, "default", "Job", "b")
    wait_for(lambda: strings(r, "done") == ["a", "b"], 15, "job after the pause")
    quit_(w)
    assert r.llen("resque:failed") == 0
    for kind in kinds:
        assert events(r, kind), kind
        assert f"{kind} hook" in w.output() and f"RuntimeError: {kind} said no (ignored)" in (
            w.output()
        )
    assert "Traceback" not in w.output()
