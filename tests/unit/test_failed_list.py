"""The failed list and queue operations, against records as Ruby Resque, pyres and resqued write them."""

from __future__ import annotations

import json
import re

import pytest
from support.fleet import dumps, push_failures, pyres_failure, ruby_failure

from resqued.errors import ResquedError
from resqued.resque import failure
from resqued.resque.failed import FailedJobError, FailedList, FailureFilter
from resqued.resque.queue_admin import depths, remove_queue
from resqued.resque.store import Store

RETRIED_AT = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d UTC$")


@pytest.fixture
def store(r):
    return Store(r)


@pytest.fixture
def failed(store):
    return FailedList(store)


def ours(cls="Archive", queue="high") -> bytes:
    return failure.record(
        {"class": cls, "args": [1, "ü"], "trace_id": "t-1"},
        "RuntimeError",
        "boom",
        ["jobs.py:3:in `perform'"],
        "ourhost:5:high",
        queue,
        1704110400.0,
    )


def test_retry_one_sets_retried_at_in_place_and_pushes_the_payload(r, failed):
    rec = ruby_failure(args=[35, "tär"])
    push_failures(r, ours(), rec)
    job = failed.retry(1)
    raw = r.lindex("resque:failed", 1)
    doc = json.loads(raw)
    # The record stays, with every field in its order and retried_at appended (Ruby's LSET).
    assert list(doc) == [*json.loads(rec), "retried_at"]
    assert RETRIED_AT.match(doc["retried_at"]) and job.retried_at == doc["retried_at"]
    assert raw == rec[:-1] + f',"retried_at":"{doc["retried_at"]}"}}'.encode()
    # Re-enqueued to its original queue, byte for byte as Ruby encodes it, queue registered.
    assert r.lrange("resque:queue:high", 0, -1) == [
        '{"class":"Archive","args":[35,"tär"]}'.encode()
    ]
    assert r.smembers("resque:queues") == {b"high"}
    assert r.llen("resque:failed") == 2
    assert json.loads(r.lindex("resque:failed", 0)).get("retried_at") is None


def test_retry_keeps_extra_payload_fields_and_a_second_retry_updates_the_stamp(r, failed):
    push_failures(r, ours())
    failed.retry(0)
    failed.retry(0)
    doc = json.loads(r.lindex("resque:failed", 0))
    assert list(doc).count("retried_at") == 1
    assert (
        r.lrange("resque:queue:high", 0, -1)
        == ['{"class":"Archive","args":[1,"ü"],"trace_id":"t-1"}'.encode()] * 2
    )


def test_digest_guards_against_a_changed_list(r, failed):
    push_failures(r, ruby_failure(cls="A"), ruby_failure(cls="B"))
    seen = failed.get(1)
    failed.remove(0)  # someone else removed the one before: index 1 is gone now
    with pytest.raises(FailedJobError, match="no failed job #1"):
        failed.retry(1, seen.digest)
    push_failures(r, ruby_failure(cls="C"))
    with pytest.raises(FailedJobError, match="changed since it was shown"):
        failed.remove(1, seen.digest)
    assert [json.loads(x)["payload"]["class"] for x in r.lrange("resque:failed", 0, -1)] == [
        "B",
        "C",
    ]
    failed.remove(0, seen.digest)
    assert r.llen("resque:failed") == 1


def test_list_pages_newest_first_with_resque_web_ids(r, failed):
    push_failures(r, *(ruby_failure(cls=f"J{i}", queue="q1" if i % 2 else "q2") for i in range(7)))
    page = failed.list(start=0, count=3)
    assert page.total == 7
    assert [(j.index, j.class_name) for j in page.jobs] == [(6, "J6"), (5, "J5"), (4, "J4")]
    page = failed.list(start=6, count=3)
    assert [j.index for j in page.jobs] == [0]
    assert failed.list(start=9, count=3).jobs == []
    page = failed.list(FailureFilter(queue="q1"), start=1, count=2)
    assert page.total == 3 and [j.index for j in page.jobs] == [3, 1]
    page = failed.list(FailureFilter(class_name="J2"))
    assert [j.index for j in page.jobs] == [2]


def test_pyres_records_read_with_the_real_exception(r, failed):
    push_failures(r, pyres_failure(), b"not json", dumps(["a", "list"]))
    py = failed.get(0)
    assert py.exception == "ValueError" and py.class_name == "jobs.Mailer"
    assert py.queue == "mail" and py.backtrace[-2] == "ValueError: no such address"
    assert failed.list(FailureFilter(exception="ValueError")).total == 1
    assert failed.list(FailureFilter(exception="type")).total == 1  # the raw name matches too
    for i in (1, 2):
        bad = failed.get(i)
        assert bad.record is None and bad.class_name == "" and bad.exception == ""
        with pytest.raises(FailedJobError, match="not a JSON record"):
            failed.retry(i)
    failed.retry(0)
    assert json.loads(r.lindex("resque:queue:mail", 0)) == json.loads(pyres_failure())["payload"]


def test_jobs_without_queue_or_class_are_not_retried(r, failed):
    push_failures(
        r,
        dumps({"failed_at": "x", "payload": {"class": "A", "args": []}, "queue": ""}),
        dumps({"failed_at": "x", "payload": {"args": [1]}, "queue": "q"}),
        ruby_failure(),
    )
    with pytest.raises(FailedJobError, match="names no queue"):
        failed.retry(0)
    with pytest.raises(FailedJobError, match="names no job class"):
        failed.retry(1)
    assert failed.retry_matching() == 1  # all: the two that cannot be retried are skipped
    assert r.llen("resque:queue:high") == 1 and not r.exists("resque:queue:q")


def test_retry_matching_filters_and_retry_all_includes_retried(r, failed):
    push_failures(
        r,
        ruby_failure(cls="A", queue="q1"),
        ruby_failure(cls="B", queue="q2", exception="Timeout"),
        ruby_failure(cls="A", queue="q2", retried_at="2024/01/01 12:30:00 UTC"),
    )
    assert failed.retry_matching(FailureFilter(queue="q2", retried=False)) == 1
    assert r.lrange("resque:queue:q2", 0, -1) == [b'{"class":"B","args":[35,"tar"]}']
    assert failed.retry_matching(FailureFilter(exception="RuntimeError")) == 2
    assert failed.retry_matching() == 3  # resque-web's "Retry Failed Jobs": every record
    assert r.llen("resque:queue:q1") == 2 and r.llen("resque:queue:q2") == 4
    assert all("retried_at" in json.loads(x) for x in r.lrange("resque:failed", 0, -1))


def test_remove_matching_and_clear(r, failed):
    push_failures(
        r,
        *(ruby_failure(cls="A" if i % 3 else "B", queue=f"q{i % 2}") for i in range(9)),
    )
    assert failed.remove_matching(FailureFilter(class_name="B")) == 3
    assert failed.count() == 6
    assert all(j.class_name == "A" for j in failed.scan())
    assert failed.remove_matching(FailureFilter(queue="q0")) == 3
    assert {j.queue for j in failed.scan()} == {"q1"}
    assert failed.remove_matching(FailureFilter(queue="nothing")) == 0
    assert failed.clear() == 3
    assert not r.exists("resque:failed")
    with pytest.raises(FailedJobError, match="no failed job #0"):
        failed.get(0)


def test_clear_retried_as_resque_web(r, failed):
    push_failures(
        r,
        ruby_failure(cls="A"),
        ruby_failure(cls="B", retried_at="2024/01/01 12:30:00 UTC"),
        ruby_failure(cls="C"),
    )
    failed.retry(2)
    assert failed.remove_matching(FailureFilter(retried=True)) == 2
    assert [j.class_name for j in failed.scan()] == ["A"]


def test_scan_reads_long_lists_in_chunks(r, failed, monkeypatch):
    monkeypatch.setattr("resqued.resque.failed.CHUNK", 4)
    push_failures(r, *(ruby_failure(cls=f"J{i}") for i in range(10)))
    assert [j.index for j in failed.scan()] == list(range(10))
    assert [j.index for j in failed.recent(3)] == [9, 8, 7]
    assert failed.remove_matching(FailureFilter(class_name="J9")) == 1


def test_queue_depths_and_remove_queue_as_resque(r, store):
    for q, n in (("high", 3), ("low", 1)):
        r.sadd("resque:queues", q)
        for i in range(n):
            r.rpush(f"resque:queue:{q}", i)
    r.sadd("resque:queues", "empty")
    assert [(q.name, q.depth) for q in depths(store)] == [("empty", 0), ("high", 3), ("low", 1)]
    assert remove_queue(store, "high") == 3
    assert not r.exists("resque:queue:high") and not r.sismember("resque:queues", "high")
    assert remove_queue(store, "empty") == 0
    with pytest.raises(ResquedError, match="no queue named 'nope'"):
        remove_queue(store, "nope")
