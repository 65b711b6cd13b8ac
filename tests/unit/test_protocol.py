"""The Resque wire format: payload bytes, times, failure records, queue patterns, the registry."""

from __future__ import annotations

import json
import re

import pytest

import resqued
from resqued.resque import failure, payload, registry, times
from resqued.resque.queues import QueueList, expand_braces, glob_to_lua
from resqued.resque.store import Store

EPOCH = 1704110400.0  # 2024-01-01 12:00:00 UTC


@pytest.fixture
def store(r, redis_url):
    s = resqued.connect(redis_url)
    yield s


def test_payload_bytes_match_ruby_resque():
    # Ruby: Resque.enqueue(Archive, 35, "tar") -> JSON.generate(class: "Archive", args: [35, "tar"])
    assert payload.encode("Archive", [35, "tar"]) == b'{"class":"Archive","args":[35,"tar"]}'
    assert payload.encode("Mailers::Welcome", ["jürgen", {"a": 1.5, "b": None}]) == (
        '{"class":"Mailers::Welcome","args":["jürgen",{"a":1.5,"b":null}]}'.encode()
    )
    assert (
        payload.encode("X", [], enqueue_timestamp=1)
        == b'{"class":"X","args":[],"enqueue_timestamp":1}'
    )


def test_enqueue_pushes_ruby_bytes_and_registers_the_queue(store, r):
    @resqued.job("Archive")
    class Archive:
        queue = "file_serve"

        @staticmethod
        def perform(repo_id, kind):
            pass

    assert resqued.enqueue(Archive, 35, "tär") is True
    assert r.lrange("resque:queue:file_serve", 0, -1) == [
        '{"class":"Archive","args":[35,"tär"]}'.encode()
    ]
    assert r.smembers("resque:queues") == {b"file_serve"}
    resqued.enqueue_to("other", "Mailers::Welcome", 1)
    assert r.lrange("resque:queue:other", 0, -1) == [b'{"class":"Mailers::Welcome","args":[1]}']


def test_namespace_is_configurable(r, redis_url):
    s = resqued.connect(redis_url, namespace="myapp")
    resqued.enqueue_to("q", "X", 1)
    assert r.llen("myapp:queue:q") == 1 and r.sismember("myapp:queues", "q")
    assert s.keys.failed == "myapp:failed"


def test_time_formats():
    assert times.run_at(EPOCH) == "2024-01-01T12:00:00Z"
    assert times.started(EPOCH) == "2024-01-01 12:00:00 +0000"
    assert times.heartbeat(EPOCH) == "2024-01-01T12:00:00+00:00"
    assert times.failed_at(EPOCH) == "2024/01/01 12:00:00 UTC"
    assert times.parse_heartbeat("2024-01-01T12:00:00+00:00") == EPOCH
    assert times.parse_heartbeat("2024-01-01T12:00:00Z") == EPOCH
    assert times.parse_heartbeat(str(EPOCH)) == EPOCH  # pyres writes epochs
    assert times.parse_heartbeat("yesterday") is None


def test_failure_record_has_every_field_in_ruby_order():
    rec = failure.record(
        {"class": "A", "args": [1], "x": 2},
        "RuntimeError",
        "boom",
        ["a.py:1:in `f'"],
        "host:1:q",
        "q",
        EPOCH,
    )
    doc = json.loads(rec)
    assert list(doc) == [
        "failed_at",
        "payload",
        "exception",
        "error",
        "backtrace",
        "worker",
        "queue",
    ]
    assert doc["failed_at"] == "2024/01/01 12:00:00 UTC"
    assert doc["payload"] == {"class": "A", "args": [1], "x": 2}


def test_exception_names_and_backtrace():
    try:
        raise ValueError("nope")
    except ValueError as exc:
        assert failure.exception_name(exc) == "ValueError"
        assert re.match(
            r".*test_protocol\.py:\d+:in `test_exception_names_and_backtrace'",
            failure.backtrace_of(exc)[0],
        )
    assert failure.exception_name(resqued.UnknownJobClass("x")) == "resqued.jobs.UnknownJobClass"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{bad json", "not valid JSON"),
        (b"[1,2]", "a JSON list"),
        (b'{"args":[]}', 'no "class"'),
        (b'{"class":null,"args":[]}', 'no "class"'),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_malformed_payloads_say_why(raw, reason):
    with pytest.raises(payload.MalformedPayload, match=re.escape(reason)):
        payload.decode("q", raw)


def test_payload_decode_keeps_extra_fields_in_order():
    job = payload.decode("q", b'{"class":"A","args":[1],"meta":{"z":1,"a":2}}')
    assert job.class_name == "A" and job.args == [1]
    assert payload.dumps(job.payload) == b'{"class":"A","args":[1],"meta":{"z":1,"a":2}}'


@pytest.mark.parametrize(
    ("glob", "matches", "misses"),
    [
        ("*", ["a", "mail_x", ""], []),
        ("mail_*", ["mail_", "mail_out"], ["mail", "xmail_out"]),
        ("a?c", ["abc", "a.c"], ["ac", "abbc"]),
        ("[ab]x", ["ax", "bx"], ["cx"]),
        ("[!ab]x", ["cx"], ["ax"]),
        ("a.b%c", ["a.b%c"], ["aXb%c"]),
        ("q-1", ["q-1"], ["q1"]),
    ],
)
def test_globs_become_anchored_lua_patterns(r, glob, matches, misses):
    pattern = glob_to_lua(glob)
    for name in matches:
        assert r.eval("return string.find(ARGV[1], ARGV[2]) ~= nil", 0, name, pattern) == 1, name
    for name in misses:
        assert r.eval("return string.find(ARGV[1], ARGV[2]) ~= nil", 0, name, pattern) is None, name


def test_braces_expand_like_ruby_extglob():
    assert expand_braces("{high,low}_mail") == ["high_mail", "low_mail"]
    assert expand_braces("a{b,c}d{e,f}") == ["abde", "abdf", "acde", "acdf"]
    assert expand_braces("plain") == ["plain"]


def test_queue_list_resolution_order_patterns_and_exclusions():
    known = {"mail_b", "mail_a", "low", "high", "critical"}
    assert QueueList.parse("critical,mail_*,*").resolve(known) == [
        "critical",
        "mail_a",
        "mail_b",
        "high",
        "low",
    ]
    assert QueueList.parse(["*", "!low", "!mail_*"]).resolve(known) == ["critical", "high"]
    assert QueueList.parse("!low").resolve(known) == ["critical", "high", "mail_a", "mail_b"]
    assert QueueList.parse("").names == ("*",)
    assert str(QueueList.parse(["high", "low"])) == "high,low"


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
    from resqued.resque.connection import redact

    assert redact("redis://:s3cret@h:6379/0") == "redis://:***@h:6379/0"
    assert redact("rediss://user:s3cret@h/0") == "rediss://user:***@h/0"
    assert (
        redact("unix:///tmp/r.sock?password=s3cret&db=1") == "unix:///tmp/r.sock?password=***&db=1"
    )


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
