"""The Resque wire format: payload bytes, times and failure records, as Ruby Resque writes them."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import time

import pytest

import resqued
from resqued.resque import failure, payload, times

EPOCH = 1704110400  # 2024-01-01 12:00:00 UTC
FAILURE_KEYS = ["failed_at", "payload", "exception", "error", "backtrace", "worker", "queue"]


@pytest.fixture
def store(r, redis_url):
    return resqued.connect(redis_url)


# -- payloads --------------------------------------------------------------------------------------


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
        (
            "Mailers::Welcome",
            ["jürgen", {"a": 1.5, "b": None}],
            '{"class":"Mailers::Welcome","args":["jürgen",{"a":1.5,"b":null}]}'.encode(),
        ),
    ],
)
def test_encode_is_byte_identical_to_ruby(cls, args, expected):
    assert payload.encode(cls, args) == expected


def test_extra_fields_follow_class_and_args():
    assert (
        payload.encode("X", [], enqueue_timestamp=1)
        == b'{"class":"X","args":[],"enqueue_timestamp":1}'
    )


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


def test_namespace_is_configurable(r, redis_url):
    s = resqued.connect(redis_url, namespace="myapp")
    resqued.enqueue_to("q", "X", 1)
    assert r.llen("myapp:queue:q") == 1 and r.sismember("myapp:queues", "q")
    assert s.keys.failed == "myapp:failed"


def test_ruby_destroy_by_exact_bytes_finds_our_payload(store, r):
    # Ruby's Job.destroy(queue, "Archive", 35, "tar") runs LREM with Resque.encode's bytes.
    resqued.enqueue_to("q", "Archive", 35, "tär")
    ruby_bytes = '{"class":"Archive","args":[35,"tär"]}'.encode()
    assert r.lrem("resque:queue:q", 0, ruby_bytes) == 1


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


def test_a_lone_surrogate_stays_escaped_and_round_trips():
    value = {"class": "X", "args": ["bad \udcff", "ü", "😀"]}
    raw = payload.dumps(value)
    assert raw == '{"class":"X","args":["bad \\udcff","ü","😀"]}'.encode()
    assert json.loads(raw) == value


# -- times -----------------------------------------------------------------------------------------


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


# -- failure records -------------------------------------------------------------------------------


def test_failure_record_fields_in_ruby_order_byte_for_byte():
    rec = failure.record(
        {"class": "Archive", "args": [35, "tär"], "x": 2},
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
            '"payload":{"class":"Archive","args":[35,"tär"],"x":2},'
            '"exception":"RuntimeError","error":"boom","backtrace":["a.py:1:in `f\'"],'
            '"worker":"host:1:default","queue":"default"}'
        ).encode()
    )


def test_failure_record_always_has_worker_and_backtrace():
    rec = json.loads(failure.record({}, "X", "", [], "h:1:q", "q"))
    assert list(rec) == FAILURE_KEYS
    assert rec["worker"] == "h:1:q" and rec["backtrace"] == []


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


def test_dirty_exit_message_matches_ruby():
    pid = os.fork()
    if pid == 0:
        os.kill(os.getpid(), signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    assert failure.signal_exit_message(pid, status) == (
        f"Child process received unhandled signal pid {pid} SIGKILL (signal 9)"
    )


ODD_PAYLOADS = [
    b"[" * 100_000,  # RecursionError in json.loads
    b'{"a":' * 50_000,
    b'{"class":"X","args":' + b"[" * 5000 + b"]" * 5000 + b"}",
    b'{"class":"X","args":' + b"[" * 990 + b"]" * 990 + b"}",  # deep, yet valid for Redis's cjson
    b'{"class":"X","args":[' + b"1" * 5000 + b"]}",  # more digits than int() allows
    b'{"class":"X","args":[1e999999, -1e999999]}',
    b'{"class":"X","args":[NaN, Infinity]}',
    b'{"class":"X","args":["\\ud800"]}',
    b'\xef\xbb\xbf{"class":"X","args":[]}',  # a UTF-8 BOM
    '{"class":"X","args":[]}'.encode("utf-16"),
    '{"class":"X","args":[]}'.encode("utf-32-le"),
    b'{"class":"X\x00Y","args":[]}',
    b'{"class":"X","args":[]}\x00',
    b'{"class":{"nested":1},"args":[]}',
    b'{"class":"X","args":{"a":1}}',
    b'{"class":"X","class":"Y"}',
    b"",
    b"null",
    b"\xff" * 64,
    b"\x00" * 64,
]


def _fuzzed(n: int) -> list[bytes]:
    """Random bytes, and valid payloads with random bytes flipped, cut or repeated."""
    rng = random.Random(20240101)
    good = payload.encode("Mailers::Welcome", ["jürgen", {"a": [1, 2.5, None]}, "😀"])
    out = []
    for _ in range(n):
        kind = rng.randrange(4)
        if kind == 0:
            out.append(bytes(rng.randrange(256) for _ in range(rng.randrange(64))))
        elif kind == 1:
            b = bytearray(good)
            for _ in range(rng.randrange(1, 4)):
                b[rng.randrange(len(b))] = rng.randrange(256)
            out.append(bytes(b))
        elif kind == 2:
            out.append(good[: rng.randrange(len(good))])
        else:
            cut = rng.randrange(1, len(good))
            out.append(good[:cut] * rng.randrange(2, 50) + good[cut:])
    return out


def _decodes_and_fails_cleanly(raw: bytes) -> None:
    try:
        job = payload.decode("q", raw)
    except payload.MalformedPayload as exc:
        assert str(exc)  # a reason, for the failure record
        shown = payload.malformed_stand_in(raw)
    else:
        assert isinstance(job.class_name, str) and job.class_name
        assert isinstance(job.args, list)
        shown = job.payload
    record = failure.record(shown, "X", "e", [], "h:1:q", "q", EPOCH, raw=raw)
    assert record.startswith(b'{"failed_at":"2024/01/01 12:00:00 UTC","payload":{')
    assert record.endswith(b',"worker":"h:1:q","queue":"q"}')


@pytest.mark.parametrize("raw", ODD_PAYLOADS, ids=lambda raw: repr(raw[:24]))
def test_odd_payloads_decode_to_a_job_or_malformed_payload(raw):
    _decodes_and_fails_cleanly(raw)


def test_fuzzed_payloads_decode_to_a_job_or_malformed_payload():
    for raw in _fuzzed(5000):
        _decodes_and_fails_cleanly(raw)


def test_a_payload_too_deep_to_encode_again_is_recorded_as_the_raw_text():
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    raw = b'{"class":"X","args":"(deep)"}'
    doc = json.loads(failure.record({"class": "X", "args": deep}, "E", "e", [], "w", "q", raw=raw))
    assert doc["payload"] == {"class": "resqued.MalformedPayload", "args": [raw.decode()]}
