"""The worker registry and the store: register, unregister, prune, pause flags, URLs."""

from __future__ import annotations

import json
import re

import pytest

import resqued
from resqued.resque import registry, times
from resqued.resque.connection import redact
from resqued.resque.store import Store


@pytest.fixture
def store(r, redis_url):
    s = resqued.connect(redis_url)
    yield s


def test_register_and_unregister_write_exactly_the_resque_keys(store, r):
    wid = registry.worker_id("high,low", 4242)
    registry.register(store, wid)
    assert r.smembers("resque:workers") == {wid.encode()}
    assert re.fullmatch(
        rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000", r.get(f"resque:worker:{wid}:started")
    )
    beat = r.hget("resque:workers:heartbeat", wid)
    assert re.fullmatch(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", beat)
    r.set(f"resque:stat:processed:{wid}", 3)
    r.set(
        f"resque:worker:{wid}",
        json.dumps({"queue": "high", "run_at": "x", "payload": {"class": "A", "args": [1]}}),
    )
    registry.unregister(store, wid)
    assert not r.exists(
        f"resque:worker:{wid}",
        f"resque:worker:{wid}:started",
        f"resque:stat:processed:{wid}",
        f"resque:stat:failed:{wid}",
    )
    assert r.scard("resque:workers") == 0 and r.hlen("resque:workers:heartbeat") == 0
    [rec] = [json.loads(x) for x in r.lrange("resque:failed", 0, -1)]
    assert rec["exception"] == "Resque::DirtyExit" and rec["worker"] == wid
    assert rec["payload"] == {"class": "A", "args": [1]} and rec["queue"] == "high"
    assert r.get("resque:stat:failed") == b"1"


def test_prune_removes_expired_and_dead_local_workers_only(store, r):
    me = registry.worker_id("q", 1)
    dead_local = registry.worker_id("q", 999_999)  # no such pid on this host
    remote_alive = "elsewhere:123:q"
    remote_expired = "elsewhere:456:q"
    for wid in (dead_local, remote_alive, remote_expired):
        r.sadd("resque:workers", wid)
    r.hset("resque:workers:heartbeat", remote_alive, times.heartbeat(store.server_time()))
    r.hset("resque:workers:heartbeat", remote_expired, times.heartbeat(store.server_time() - 400))
    r.set(
        f"resque:worker:{remote_expired}",
        json.dumps({"queue": "q", "run_at": "x", "payload": {"class": "A", "args": []}}),
    )
    pruned = registry.prune_dead_workers(store, me)
    assert sorted(pruned) == sorted([dead_local, remote_expired])
    assert r.smembers("resque:workers") == {remote_alive.encode()}
    [rec] = [json.loads(x) for x in r.lrange("resque:failed", 0, -1)]
    assert rec["exception"] == "Resque::PruneDeadWorkerDirtyExit"


def test_prune_honours_the_lock(store, r):
    r.sadd("resque:workers", registry.worker_id("q", 999_999))
    r.set("resque:pruning_dead_workers_in_progress", "someone", ex=60)
    assert registry.prune_dead_workers(store, "me") == []
    assert r.scard("resque:workers") == 1


def test_prune_requeues_jobs_handed_to_unregistered_workers(store, r):
    gone = "elsewhere:77:high,low"
    r.rpush(f"resque:resqued:inflight:{gone}:low", b'{"class":"A","args":[1]}')
    r.rpush("resque:queue:low", b'{"class":"B","args":[]}')
    live = registry.worker_id("high", 5)
    registry.register(store, live)
    r.rpush(f"resque:resqued:inflight:{live}:high", b'{"class":"C","args":[]}')
    registry.prune_dead_workers(store, live)
    # back at the head of its queue, and a live worker's hand-over is left alone
    assert r.lrange("resque:queue:low", 0, -1) == [
        b'{"class":"A","args":[1]}',
        b'{"class":"B","args":[]}',
    ]
    assert r.llen(f"resque:resqued:inflight:{live}:high") == 1


def test_unregister_requeues_hand_overs_even_with_glob_characters_in_the_id(store, r):
    wid = registry.worker_id("*", 4242)
    registry.register(store, wid)
    r.rpush(f"resque:resqued:inflight:{wid}:mail", b'{"class":"A","args":[]}')
    r.rpush(f"resque:resqued:inflight:{registry.worker_id('x', 4242)}:mail", b"not mine")
    registry.unregister(store, wid)
    assert r.lrange("resque:queue:mail", 0, -1) == [b'{"class":"A","args":[]}']
    assert r.llen("resque:failed") == 0


def test_paused_flag_is_trimmed_and_case_insensitive(store, r):
    assert not store.paused()
    r.set("resque:pause-all-workers", "  TRUE \n")
    assert store.paused()
    r.set("resque:pause-all-workers", "false")
    assert not store.paused()


def test_store_rejects_bad_urls():
    for url, why in [
        ("http://x", "scheme"),
        ("redis://host:port/0", "port"),
        ("redis://h:6379/abc", "not a number"),
        ("unix://", "no socket path"),
    ]:
        with pytest.raises(resqued.errors.ResquedError, match=why):
            Store.connect(url)


def test_passwords_are_redacted():
    assert redact("redis://:s3cret@h:6379/0") == "redis://:***@h:6379/0"
    assert redact("rediss://user:s3cret@h/0") == "rediss://user:***@h/0"
    assert (
        redact("unix:///tmp/r.sock?password=s3cret&db=1") == "unix:///tmp/r.sock?password=***&db=1"
    )
