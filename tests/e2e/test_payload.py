"""Payloads through a real worker: extra fields, odd bytes and malformed entries reach `failed` intact."""

from __future__ import annotations

import json
import re
import signal

import pytest
from support.jobs import failures, push, push_raw, strings, work, worker_id
from support.procs import wait_for
from support.worker import quit_

FAILURE_KEYS = ["failed_at", "payload", "exception", "error", "backtrace", "worker", "queue"]


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


@pytest.mark.parametrize("mode", ["--fork", "--no-fork"])
def test_any_payload_fails_as_a_job_and_the_worker_carries_on(resqued, app_dir, r, mode):
    deep_but_valid = b'{"class":"Record","args":' + b"[" * 990 + b"]" * 990 + b"}"
    bad = [
        b"[" * 100_000,  # nested JSON: a RecursionError before
        b'{"a":' * 50_000,
        deep_but_valid,  # Redis's cjson accepts it; Python may not
        b'{"class":"Record","args":[' + b"1" * 5000 + b"]}",
        b"\xff" * 64,
    ]
    for raw in bad:
        push_raw(r, "default", raw)
    push(r, "default", "Record", "after")
    w = work(resqued, app_dir, "-q", "default", mode)
    wid = worker_id(r)
    wait_for(
        lambda: strings(r, "record") and strings(r, "record")[-1].startswith("after:"),
        30,
        "the good job",
    )
    recs = failures(r)
    assert len(recs) == len(bad)
    for rec, raw in zip(recs, bad, strict=True):
        assert list(rec) == FAILURE_KEYS
        assert rec["worker"] == wid and rec["queue"] == "default" and rec["error"]
        if raw is not deep_but_valid:
            assert rec["exception"] == "resqued.MalformedPayload"
            assert rec["payload"] == {
                "class": "resqued.MalformedPayload",
                "args": [raw.decode("utf-8", "replace")],
            }
    assert "nested too deeply" in recs[0]["error"] and "nested too deeply" in recs[1]["error"]
    wait_for(
        lambda: r.get("resque:stat:processed") == str(len(bad) + 1).encode(), 10, "all counted"
    )
    assert r.get("resque:stat:failed") == str(len(bad)).encode()
    assert w.popen.poll() is None and "Traceback" not in w.output()
    quit_(w)
