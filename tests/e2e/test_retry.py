"""Retried jobs (``retry=resqued.Retry(...)``) on a real worker, in each mode, on resque-retry's keys."""

from __future__ import annotations

import hashlib
import json
import time

import pytest
from support.jobs import failures, push, strings, work
from support.procs import wait_for
from support.worker import quit_

MODES = [("--fork",), ("--no-fork",), ("--threads", "2")]


def key(cls: str, *args) -> str:
    """resque-retry's attempt key, spelled out: SHA-1 of the args joined with '-'."""
    ident = hashlib.sha1("-".join(str(a) for a in args).encode()).hexdigest()
    return f"resque:resque-retry:{cls}:{ident}"


def runs(r, cls: str) -> list[str]:
    return [x for x in strings(r, "runs") if x.startswith(f"{cls}:")]


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m[0])
def test_a_job_that_always_fails_ends_as_one_failure_after_its_retries(resqued, app_dir, r, mode):
    push(r, "default", "AlwaysFails", "k1")
    w = work(resqued, app_dir, "-q", "default", *mode, lib="retry_jobs")
    wait_for(lambda: r.llen("resque:failed") == 1, 20, "the last failure recorded")
    assert len(runs(r, "AlwaysFails")) == 4  # the first run and 3 retries
    [record] = failures(r)
    assert record["payload"] == {"class": "AlwaysFails", "args": ["k1"]}
    assert record["exception"] == "RuntimeError" and record["error"] == "fails every time (run 4)"
    assert record["retry_attempt"] == 3
    assert list(record)[:7] == [
        "failed_at", "payload", "exception", "error", "backtrace", "worker", "queue"
    ]  # fmt: skip
    assert not r.exists(key("AlwaysFails", "k1"), "resque:failure-resque-retry:AlwaysFails:x")
    assert r.keys("resque:*resque-retry*") == []
    # Each run counts, as Resque counts them: 4 processed, 4 failed, 1 record.
    assert r.get("resque:stat:processed") == b"4" and r.get("resque:stat:failed") == b"4"
    assert r.llen("resque:queue:default") == 0
    quit_(w)


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m[0])
def test_a_job_that_succeeds_the_second_time_leaves_nothing(resqued, app_dir, r, mode):
    push(r, "default", "SecondTime", "k2")
    w = work(resqued, app_dir, "-q", "default", *mode, lib="retry_jobs")
    wait_for(lambda: r.get("resque:stat:processed") == b"2", 20, "two runs")
    assert len(runs(r, "SecondTime")) == 2
    assert r.llen("resque:failed") == 0
    assert not r.exists(key("SecondTime", "k2"))
    assert r.keys("resque:*resque-retry*") == []
    quit_(w)


def test_backoff_delays_land_in_the_delayed_queue_at_their_epochs(resqued, app_dir, r):
    push(r, "later", "Backoff", "k3")
    before = int(time.time())
    w = work(resqued, app_dir, "-q", "later", lib="retry_jobs")
    wait_for(lambda: r.zcard("resque:delayed_queue_schedule") == 1, 20, "the retry delayed")
    after = int(time.time())
    [epoch] = [int(e) for e in r.zrange("resque:delayed_queue_schedule", 0, -1)]
    assert before + 30 <= epoch <= after + 30  # backoff[0]
    entry = b'{"class":"Backoff","args":["k3"],"queue":"later"}'
    assert r.lrange(f"resque:delayed:{epoch}", 0, -1) == [entry]
    assert r.smembers(b"resque:timestamps:" + entry) == {f"resque:delayed:{epoch}".encode()}
    assert r.get(key("Backoff", "k3")) == b"0"  # the first run's attempt, kept for the retry
    kept = r.get("resque:failure-" + key("Backoff", "k3")[len("resque:") :])
    assert kept is not None and json.loads(kept)["error"] == "again later"
    assert 0 < r.ttl("resque:failure-" + key("Backoff", "k3")[len("resque:") :]) <= 60
    assert r.llen("resque:failed") == 0
    # The retry runs (as the mover would queue it): the second run waits backoff[1].
    r.delete(f"resque:delayed:{epoch}", b"resque:timestamps:" + entry)
    r.zrem("resque:delayed_queue_schedule", epoch)
    push(r, "later", "Backoff", "k3")
    before = int(time.time())
    wait_for(lambda: r.zcard("resque:delayed_queue_schedule") == 1, 20, "the second retry")
    [epoch] = [int(e) for e in r.zrange("resque:delayed_queue_schedule", 0, -1)]
    assert before + 90 <= epoch <= int(time.time()) + 90
    assert r.get(key("Backoff", "k3")) == b"1"
    quit_(w)


def test_an_exception_the_class_does_not_retry_fails_at_once(resqued, app_dir, r):
    push(r, "default", "OnlyKeyErrors", "k4")
    w = work(resqued, app_dir, "-q", "default", lib="retry_jobs")
    wait_for(lambda: r.llen("resque:failed") == 1, 20, "the failure")
    [record] = failures(r)
    assert record["exception"] == "ValueError" and record["retry_attempt"] == 0
    assert len(runs(r, "OnlyKeyErrors")) == 1 and r.keys("resque:*resque-retry*") == []
    quit_(w)


def test_a_job_killed_at_its_time_limit_is_retried_only_if_its_class_names_jobtimeout(
    resqued, app_dir, r
):
    push(r, "default", "SlowRetried", "k5")
    push(r, "default", "SlowNotRetried", "k6")
    w = work(resqued, app_dir, "-q", "default", "--fork", lib="retry_jobs")
    wait_for(lambda: r.llen("resque:failed") == 2, 30, "both given up")
    by_class = {f["payload"]["class"]: f for f in failures(r)}
    assert by_class["SlowRetried"]["exception"] == "resqued.JobTimeout"
    assert by_class["SlowRetried"]["retry_attempt"] == 1
    assert by_class["SlowNotRetried"]["retry_attempt"] == 0
    assert len(runs(r, "SlowRetried")) == 2 and len(runs(r, "SlowNotRetried")) == 1
    quit_(w)
