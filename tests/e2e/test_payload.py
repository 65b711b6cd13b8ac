"""Payloads, times, failure records and queue patterns, byte for byte as Ruby Resque writes them."""

from __future__ import annotations

import json
import re
import signal
import time

import pytest
from support.jobs import push_raw, work, worker_id
from support.procs import wait_for

import resqued
from resqued.resque import failure, payload, times
from resqued.resque.queues import QueueList, expand_braces, glob_to_lua
from resqued.resque.store import Store
from resqued.worker.loop import Reserver

EPOCH = 1704110400  # 2024-01-01 12:00:00 UTC
FAILURE_KEYS = ["failed_at", "payload", "exception", "error", "backtrace", "worker", "queue"]


@pytest.fixture
def store(r, redis_url):
    return resqued.connect(redis_url)


# -- payload bytes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cls, args, expected",
    [
        ("Archive", [35, "tar"], b'{"class":"Archive","args":[35,"tar"]}'),
        ("Mailers::Welcome", [], b'{"class":"Mailers::Welcome","args":[]}'),
        ("X", ["jürgen", "日本", "€"], '{"class":"X","args":["jürgen","日本","€"]}'.encode()),
        (
            "X",
            [{"b": 1, "a": [True, None, 1.5]}],
            b'{"class":"X","args":[{"b":1,"a":[true,null,1.5]}]}',
        ),
        ("X", ['quote " and \\ and /'], b'{"class":"X","args":["quote \\" and \\\\ and /"]}'),
        ("X", ["tab\tnl\n"], b'{"class":"X","args":["tab\\tnl\\n"]}'),
    ],
)
def test_encode_is_byte_identical_to_ruby(cls, args, expected):
    assert payload.encode(cls, args) == expected


def test_enqueue_writes_ruby_bytes_and_registers_the_queue_in_the_same_push(store, r):
    @resqued.job("Archive")
    class Archive:
        queue = "file_serve"

        @staticmethod
        def perform(repo_id, kind):
            pass

    with r.monitor() as m:
        assert resqued.enqueue(Archive, 35, "tar") is True
        assert resqued.enqueue_to("file_serve", "Mailers::Welcome", "zoë") is True
        seen = []
        for cmd in m.listen():
            words = cmd["command"].split(" ", 1)[0].upper()
            if words in ("SADD", "RPUSH"):
                seen.append(words)
            if len(seen) == 4:
                break
    assert seen == ["SADD", "RPUSH", "SADD", "RPUSH"]  # the queue is registered with each push
    assert r.lrange("resque:queue:file_serve", 0, -1) == [
        b'{"class":"Archive","args":[35,"tar"]}',
        '{"class":"Mailers::Welcome","args":["zoë"]}'.encode(),
    ]
    assert r.smembers("resque:queues") == {b"file_serve"}


def test_ruby_destroy_by_exact_bytes_finds_our_payload(store, r):
    # Ruby's Job.destroy(queue, "Archive", 35, "tar") runs LREM with Resque.encode's bytes.
    resqued.enqueue_to("q", "Archive", 35, "tär")
    ruby_bytes = '{"class":"Archive","args":[35,"tär"]}'.encode()
    assert r.lrem("resque:queue:q", 0, ruby_bytes) == 1


@pytest.mark.parametrize("mode", ["--fork", "--no-fork"])
def test_extra_fields_survive_the_worker_into_the_failed_record(resqued, app_dir, r, mode):
    raw = (
        '{"class":"Fail","args":["bad ünïcode"],"enqueue_timestamp":1700000000.25,'
        '"meta":{"id":"ä1","tags":["x"]},"retry":3}'
    ).encode()
    push_raw(r, "default", raw)
    w = work(resqued, app_dir, "-q", "default", mode)
    wid = worker_id(r)
    wait_for(lambda: r.llen("resque:failed") == 1, 15, "failed record")
    record = r.lindex("resque:failed", 0)
    assert b'"payload":' + raw + b',"exception":' in record  # byte for byte, order kept
    rec = json.loads(record)
    assert list(rec) == FAILURE_KEYS
    assert rec["exception"] == "RuntimeError" and rec["error"] == "bad ünïcode"
    assert rec["worker"] == wid and rec["queue"] == "default"
    assert re.fullmatch(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d UTC", rec["failed_at"])
    assert rec["backtrace"] and all(isinstance(x, str) for x in rec["backtrace"])
    assert any("demo_jobs.py" in line and "in `perform'" in line for line in rec["backtrace"])
    w.signal(signal.SIGQUIT)
    assert w.wait(20) == 0


def test_extra_fields_survive_for_an_unknown_class_too(resqued, app_dir, r):
    raw = '{"class":"Gone::Away","args":[1],"enqueue_timestamp":1,"x":"ü"}'.encode()
    push_raw(r, "default", raw)
    work(resqued, app_dir, "-q", "default", "--no-fork")
    wait_for(lambda: r.llen("resque:failed") == 1, 15, "failed record")
    assert b'"payload":' + raw + b',"exception":' in r.lindex("resque:failed", 0)


# -- times ----------------------------------------------------------------------------------


def test_time_formats_match_ruby():
    assert times.run_at(EPOCH) == "2024-01-01T12:00:00Z"
    assert times.started(EPOCH) == "2024-01-01 12:00:00 +0000"
    assert times.heartbeat(EPOCH) == "2024-01-01T12:00:00+00:00"
    assert times.failed_at(EPOCH) == "2024/01/01 12:00:00 UTC"
    # fractions never show: Ruby prints whole seconds
    assert times.run_at(EPOCH + 0.9) == "2024-01-01T12:00:00Z"
    assert times.started(EPOCH + 0.9) == "2024-01-01 12:00:00 +0000"
    assert times.heartbeat(EPOCH + 0.9) == "2024-01-01T12:00:00+00:00"
    assert times.failed_at(EPOCH + 0.9) == "2024/01/01 12:00:00 UTC"


def test_time_formats_are_utc_whatever_the_local_zone(monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert times.run_at(EPOCH) == "2024-01-01T12:00:00Z"
        assert times.started(EPOCH) == "2024-01-01 12:00:00 +0000"
        assert times.heartbeat(EPOCH) == "2024-01-01T12:00:00+00:00"
        assert times.failed_at(EPOCH) == "2024/01/01 12:00:00 UTC"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_default_times_are_now():
    before = int(time.time())
    stamp = times.run_at()
    after = int(time.time())
    parsed = time.mktime(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert before - 1 <= parsed <= after + 1


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2024-01-01T12:00:00+00:00", EPOCH),  # ours
        ("2024-01-01T13:00:00+01:00", EPOCH),  # Ruby, with a local offset
        ("2024-01-01T12:00:00Z", EPOCH),
        ("1704110400", EPOCH),  # pyres-style epoch
        ("1704110400.5", EPOCH + 0.5),
        (" 2024-01-01T12:00:00+00:00\n", EPOCH),
        ("yesterday", None),
        ("", None),
    ],
)
def test_heartbeats_of_every_writer_parse(text, expected):
    assert times.parse_heartbeat(text) == expected


# -- failure records -------------------------------------------------------------------------


def test_failure_record_fields_in_ruby_order_byte_for_byte():
    rec = failure.record(
        {"class": "Archive", "args": [35, "tär"]},
        "RuntimeError",
        "boom",
        ["a.py:1:in `f'"],
        "host:1:default",
        "default",
        epoch=EPOCH,
    )
    assert (
        rec
        == (
            '{"failed_at":"2024/01/01 12:00:00 UTC",'
            '"payload":{"class":"Archive","args":[35,"tär"]},'
            '"exception":"RuntimeError","error":"boom","backtrace":["a.py:1:in `f\'"],'
            '"worker":"host:1:default","queue":"default"}'
        ).encode()
    )


def test_failure_record_always_has_worker_and_backtrace():
    rec = json.loads(failure.record({}, "X", "", [], "h:1:q", "q"))
    assert list(rec) == FAILURE_KEYS
    assert rec["worker"] == "h:1:q" and rec["backtrace"] == []


def test_dirty_exit_message_matches_ruby():
    import os

    pid = os.fork()
    if pid == 0:
        os.kill(os.getpid(), signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    assert failure.signal_exit_message(pid, status) == (
        f"Child process received unhandled signal pid {pid} SIGKILL (signal 9)"
    )


# -- queue patterns --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "glob, lua",
    [
        ("*", "^.*$"),
        ("mail_*", "^mail_.*$"),
        ("[ab]", "^[ab]$"),
        ("q?", "^q.$"),
        ("a.b-c", "^a%.b%-c$"),
        ("[!x]y", "^[^x]y$"),
        ("100%", "^100%%$"),
    ],
)
def test_glob_to_lua(glob, lua):
    assert glob_to_lua(glob) == lua


@pytest.mark.parametrize(
    "glob, matches, misses",
    [
        ("*", ["a", "mail_x", ""], []),
        ("mail_*", ["mail_", "mail_high", "mail_a.b"], ["mail", "xmail_a", "MAIL_a"]),
        ("[ab]", ["a", "b"], ["c", "ab", ""]),
        ("[ab]*", ["a", "bcd"], ["cab"]),
        ("q?", ["q1", "qq"], ["q", "q12"]),
        ("a.b", ["a.b"], ["axb"]),
        ("a-b+c(d)", ["a-b+c(d)"], ["ab+c(d)"]),
        ("[!x]y", ["ay"], ["xy", "y"]),
    ],
)
def test_lua_patterns_match_in_redis_like_fnmatch(r, glob, matches, misses):
    import fnmatch

    pattern = glob_to_lua(glob)
    for name in matches + misses:
        in_redis = r.eval(
            "return string.find(ARGV[1], ARGV[2]) ~= nil and 1 or 0", 0, name, pattern
        )
        assert bool(in_redis) == fnmatch.fnmatchcase(name, glob) == (name in matches), (glob, name)


@pytest.mark.parametrize(
    "pattern, expanded",
    [
        ("{a,b}", ["a", "b"]),
        ("mail_{high,low}", ["mail_high", "mail_low"]),
        ("{a,b}_{x,y}", ["a_x", "a_y", "b_x", "b_y"]),
        ("x{a,b{c,d}}", ["xa", "xbc", "xbd"]),
        ("plain", ["plain"]),
        ("{single}", ["single"]),
    ],
)
def test_expand_braces(pattern, expanded):
    assert sorted(expand_braces(pattern)) == sorted(expanded)


KNOWN = ["mail_high", "low", "high", "mail_low", "a", "b", "c", "mail_spam"]


@pytest.mark.parametrize(
    "names, resolved",
    [
        (["*"], ["a", "b", "c", "high", "low", "mail_high", "mail_low", "mail_spam"]),
        (["high", "*"], ["high", "a", "b", "c", "low", "mail_high", "mail_low", "mail_spam"]),
        (["mail_*"], ["mail_high", "mail_low", "mail_spam"]),
        (["mail_*", "!mail_spam"], ["mail_high", "mail_low"]),
        (["!low"], ["a", "b", "c", "high", "mail_high", "mail_low", "mail_spam"]),
        (["*", "!mail_*", "!{a,b}"], ["c", "high", "low"]),
        (["{c,a}"], ["a", "c"]),
        (["[ab]", "high"], ["a", "b", "high"]),
        (["low", "high", "low"], ["low", "high"]),
        (["unknown", "a"], ["unknown", "a"]),  # a literal name is worked even before it exists
        (["high", "!high"], []),
    ],
)
def test_queue_list_resolve(names, resolved):
    assert QueueList(tuple(names)).resolve(set(KNOWN)) == resolved


def test_queue_list_parse():
    assert QueueList.parse("high, low,,").names == ("high", "low")
    assert QueueList.parse([]).names == ("*",)
    assert str(QueueList.parse(["mail_*", "!mail_spam"])) == "mail_*,!mail_spam"


@pytest.mark.parametrize(
    "names",
    [
        ["*"],
        ["high", "*"],
        ["mail_*", "!mail_spam"],
        ["!low"],
        ["*", "!mail_*", "!{a,b}"],
        ["{c,a}"],
        ["[ab]", "high"],
        ["low", "high", "low"],
        ["high", "!high"],
    ],
)
def test_the_reserve_script_expands_like_the_python_side(r, redis_url, names):
    """What the worker looks at in Redis is what QueueList.resolve says."""
    store = Store.connect(redis_url)
    r.sadd("resque:queues", *KNOWN)
    queues = QueueList(tuple(names))
    reply = Reserver(store, queues, "h:1:test", pause_key="", handover=[]).call()
    assert reply[0] == b"empty"
    assert [q.decode() for q in reply[1:]] == queues.resolve(set(KNOWN))


def test_a_lone_surrogate_stays_escaped_and_round_trips():
    value = {"class": "X", "args": ["bad \udcff", "ü", "😀"]}
    raw = payload.dumps(value)
    assert raw == '{"class":"X","args":["bad \\udcff","ü","😀"]}'.encode()
    assert json.loads(raw) == value
