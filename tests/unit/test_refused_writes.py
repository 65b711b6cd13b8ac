"""A Redis that refuses writes (maxmemory with noeviction): a job is moved whole or not at all.

These run against the session's real server, made full with ``CONFIG SET
maxmemory`` (and emptied again after each test).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis

import resqued
from resqued.resque import outage, registry
from resqued.resque.store import Store

JOB = {"queue": "high", "run_at": "x", "payload": {"class": "Archive", "args": [7]}}


@pytest.fixture
def store(r, redis_url) -> Store:
    return resqued.connect(redis_url)


@pytest.fixture
def full(r) -> Iterator[redis.Redis]:
    """Call ``full.fill()`` to make Redis refuse writes; it takes them again after the test."""
    policy = r.config_get("maxmemory-policy")["maxmemory-policy"]

    class Full:
        @staticmethod
        def fill() -> None:
            r.config_set("maxmemory-policy", "noeviction")
            r.config_set("maxmemory", 1)

        @staticmethod
        def free() -> None:
            r.config_set("maxmemory", 0)

    try:
        yield Full()  # type: ignore[misc]
    finally:
        r.config_set("maxmemory", 0)
        r.config_set("maxmemory-policy", policy)


def in_flight(r, wid: str) -> None:
    r.sadd("resque:workers", wid)
    r.set(f"resque:worker:{wid}", json.dumps(JOB))


def test_a_refused_write_leaves_the_job_in_flight_and_a_later_try_moves_it(store, r, full):
    wid = registry.worker_id("high", 4242)
    in_flight(r, wid)
    full.fill()
    with pytest.raises(redis.ResponseError) as refused:
        registry.fail_in_flight(store, wid, "Resque::DirtyExit", "gone")
    assert outage.refused_write(refused.value)
    assert json.loads(r.get(f"resque:worker:{wid}")) == JOB  # not lost
    assert r.llen("resque:failed") == 0 and r.get("resque:stat:failed") is None
    full.free()
    assert registry.fail_in_flight(store, wid, "Resque::DirtyExit", "gone")
    [rec] = [json.loads(x) for x in r.lrange("resque:failed", 0, -1)]
    assert rec["payload"] == JOB["payload"] and rec["exception"] == "Resque::DirtyExit"
    assert not r.exists(f"resque:worker:{wid}")
    assert r.get("resque:stat:failed") == b"1" and r.get(f"resque:stat:failed:{wid}") == b"1"
    assert not registry.fail_in_flight(store, wid, "Resque::DirtyExit", "gone")  # once only


def test_a_refused_unregister_keeps_the_worker_registered_with_its_job(store, r, full):
    wid = registry.worker_id("high", 4243)
    in_flight(r, wid)
    r.set(f"resque:worker:{wid}:started", "2024-01-01 12:00:00 +0000")
    full.fill()
    with pytest.raises(redis.ResponseError):
        registry.unregister(store, wid)
    assert r.sismember("resque:workers", wid) and r.exists(f"resque:worker:{wid}:started")
    assert json.loads(r.get(f"resque:worker:{wid}")) == JOB
    full.free()
    registry.unregister(store, wid)
    assert not r.sismember("resque:workers", wid) and r.llen("resque:failed") == 1


def test_a_job_replaced_meanwhile_is_not_failed_in_place_of_the_one_read(store, r):
    """The move deletes worker:<id> only if it holds what was read (compare, then move)."""
    wid = registry.worker_id("high", 4244)
    in_flight(r, wid)
    move = r.register_script(registry.FAIL_IN_FLIGHT)
    keys = [f"resque:worker:{wid}", "resque:failed", "resque:stat:failed", "x"]
    assert move(keys=keys, args=[b"something else", b"record"]) == 0
    assert r.exists(f"resque:worker:{wid}") and r.llen("resque:failed") == 0


def test_the_hand_over_requeue_moves_nothing_when_refused(store, r, full):
    wid = registry.worker_id("high", 4245)
    r.rpush(f"resque:resqued:inflight:{wid}:high", b"a", b"b")
    full.fill()
    with pytest.raises(redis.ResponseError) as refused:
        registry.requeue_handed_over(store, wid)
    assert outage.refused_write(refused.value)
    assert r.llen(f"resque:resqued:inflight:{wid}:high") == 2 and not r.exists("resque:queue:high")
    full.free()
    assert registry.requeue_handed_over(store, wid) == 2
    assert r.lrange("resque:queue:high", 0, -1) == [b"a", b"b"]


def test_refusals_are_told_from_other_errors(r, full):
    full.fill()
    refusals = []
    for call in (
        lambda: r.rpush("x", 1),  # a command
        lambda: r.eval("return redis.call('RPUSH', KEYS[1], 1)", 1, "x"),  # inside a script
        lambda: r.pipeline(transaction=False).rpush("x", 1).execute(),  # in a pipeline
    ):
        with pytest.raises(redis.ResponseError) as caught:
            call()
        refusals.append(caught.value)
    full.free()
    with pytest.raises(redis.ResponseError) as wrong_type:
        r.set("s", "v")
        r.rpush("s", 1)
    assert all(outage.is_outage(e) and outage.what(e) == "refuses writes" for e in refusals)
    assert outage.reason(refusals[0]).startswith("OOM command not allowed")
    assert not outage.is_outage(wrong_type.value)  # a bug of ours stays an error
    assert outage.is_outage(redis.ConnectionError("gone"))
    assert outage.what(redis.ConnectionError("gone")) == "unavailable"


@pytest.mark.parametrize(
    "text",
    [
        # Redis 6.2 wraps an error raised inside a script in its own ERR.
        "Error running script (call to f_ab12): @user_script:1: @user_script: 1: "
        "-OOM command not allowed when used memory > 'maxmemory'.",
        "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist",
        "READONLY You can't write against a read only replica.",
        "NOREPLICAS Not enough good replicas to write.",
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSCRIPT.",
        "UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)",
    ],
)
def test_refusals_as_each_server_words_them(text):
    assert outage.refused_write(redis.ResponseError(text))
    code = outage.reason(redis.ResponseError(text)).split()[0]  # logs name the cause first
    assert code in {"OOM", "MISCONF", "READONLY", "NOREPLICAS", "BUSY", "UNBLOCKED"}


@pytest.mark.parametrize(
    "text",
    ["WRONGTYPE Operation against a key holding the wrong kind of value", "BUSYKEY exists", "ERR"],
)
def test_other_errors_are_not_refusals(text):
    assert not outage.refused_write(redis.ResponseError(text))
