"""resque-retry's settings, keys and bookkeeping: ``resqued.Retry``, the attempt key's bytes, one Lua call.

The keys are pinned by tests/unit/fixtures/resque_retry_keys.json, written by
Ruby itself (``args.join('-')``, ``Digest::SHA1``, ``gsub(/\\s/, '')``: what
resque-retry's ``retry_identifier`` and ``redis_retry_key`` do), and the Redis
side runs against a real Redis.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

import resqued
from resqued.resque import retry
from resqued.resque.attempts import Attempts, Requeue
from resqued.resque.payload import Job, encode
from resqued.resque.retry import Retry
from resqued.resque.store import Store
from resqued.worker import job_report
from resqued.worker.outcome import Outcome
from resqued.worker.retrying import Retrying, Run, final_failure

FIXTURES = json.loads((Path(__file__).parent / "fixtures" / "resque_retry_keys.json").read_text())


@pytest.mark.parametrize("case", FIXTURES["cases"], ids=lambda c: c["joined"][:20] or "empty")
def test_the_attempt_key_is_the_one_ruby_builds(case):
    assert retry.ruby_join(case["args"]) == case["joined"]
    ident = retry.identifier(case["args"])
    assert retry.attempt_key("Mailers::Welcome Job", ident) == case["key"]


def test_ruby_float_and_inspect_forms():
    assert [retry.ruby_to_s(f) for f in (1.0, 1e15, 1e-4, 1e-5, -0.0, 123456789012345.6)] == [
        "1.0", "1.0e+15", "0.0001", "1.0e-05", "-0.0", "123456789012345.6"
    ]  # fmt: skip
    assert retry.ruby_to_s({"a": [1, None, 'x"#{y}']}) == '{"a"=>[1, nil, "x\\"\\#{y}"]}'
    assert retry.failure_key("resque-retry:A:b") == "failure-resque-retry:A:b"


def test_a_class_may_name_its_own_identifier():
    class Custom:
        @staticmethod
        def retry_identifier(url, hook_id):
            return f"{url}-{hook_id}"

    assert retry.identifier_for(Custom, ["u", 7]) == "u-7"
    assert retry.identifier_for(object, ["u", 7]) == retry.identifier(["u", 7])


def test_limits_and_delays_as_resque_retry_counts_them():
    assert Retry().retry_limit == 1 and Retry(backoff=[1, 2, 3]).retry_limit == 3
    three = Retry(limit=3, delay=5)
    assert [three.limit_reached(a) for a in range(5)] == [False, False, False, True, True]
    assert Retry(limit=0).limit_reached(0) and not Retry(limit=-1).limit_reached(10**6)
    assert [three.delay_for(a) for a in range(4)] == [5, 5, 5, 5]
    back = Retry(backoff=[0, 60, 600])
    assert [back.delay_for(a) for a in range(5)] == [0, 60, 600, 600, 600]
    jittered = Retry(delay=10, jitter=0.5)
    assert jittered.delay_for(0, lambda lo, hi: hi) == 15
    assert jittered.delay_for(0, lambda lo, hi: lo) == 10
    assert Retry(delay=10, jitter=(0.5, 2)).delay_for(0, lambda lo, hi: lo) == 5
    assert Retry(delay=10, jitter=(0.5, 2)).max_factor() == 2


def test_exceptions_decide_what_runs_again():
    default = Retry()
    assert default.accepts(ValueError()) and not default.accepts(resqued.JobTimeout())
    only = Retry(exceptions=(KeyError, resqued.JobTimeout))
    assert only.accepts(KeyError()) and only.accepts(resqued.JobTimeout())
    assert not only.accepts(ValueError())
    assert Retry(exceptions=KeyError).exceptions == (KeyError,)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"limit": 1.5}, "limit must be a whole number of retries, not 1.5"),
        ({"limit": True}, "limit must be a whole number"),
        ({"delay": -1}, "delay must be a number of seconds of at least 0, not -1"),
        ({"delay": "5"}, "delay must be a number of seconds, not '5'"),
        ({"backoff": []}, "backoff must hold at least one delay"),
        ({"backoff": "60"}, "backoff must be a list of seconds, not '60'"),
        ({"backoff": [1], "delay": 2}, "give delay or backoff, not both"),
        ({"exceptions": ("KeyError",)}, "exceptions must be exception classes"),
        ({"jitter": -0.5}, "jitter must be a fraction (0.5) or two factors, not -0.5"),
        ({"jitter": (2, 1)}, "jitter's first factor must not exceed its second"),
        ({"expire_key_after": float("inf")}, "expire_key_after must be a number of seconds"),
    ],
)
def test_bad_settings_are_one_clear_error(kwargs, message):
    with pytest.raises(ValueError, match="^resqued.Retry: ") as info:
        Retry(**kwargs)
    assert message in str(info.value)


def test_the_job_decorator_keeps_the_settings_and_refuses_anything_else():
    @resqued.job("Kept", retry=Retry(limit=2))
    class Kept:
        @staticmethod
        def perform():
            pass

    assert retry.policy_of(Kept) == Retry(limit=2) and retry.policy_of(object) is None
    with pytest.raises(TypeError, match=r"retry must be a resqued.Retry\(...\), not 3"):
        resqued.job("Bad", retry=3)  # type: ignore[arg-type]


def test_a_childs_report_carries_whether_the_class_retries_it():
    class Retried:
        resqued_retry = Retry(exceptions=(KeyError,))

    yes = Outcome.of(KeyError("k"), Retried)
    no = Outcome.of(ValueError("v"), Retried)
    assert yes.retryable and not no.retryable and not Outcome.of(KeyError("k")).retryable
    assert job_report.read(job_report.report_bytes(yes)).retryable  # type: ignore[union-attr]
    assert not job_report.read(job_report.report_bytes(no)).retryable  # type: ignore[union-attr]


# -- the Redis side ----------------------------------------------------------------------------


WID = "host:1:default"


@pytest.fixture
def store(redis_url, r):
    s = Store.connect(redis_url)
    r.sadd("resque:workers", WID)
    return s


def _in_hand(r, raw: bytes) -> None:
    r.set(f"resque:worker:{WID}", b'{"queue":"default","payload":' + raw + b"}")


def test_begin_counts_as_rubys_before_perform_does_and_shares_its_count(store, r):
    attempts = Attempts(store)
    key = retry.attempt_key("Archive", retry.identifier([35, "tar"]))
    assert attempts.begin(key, None, 1.0, (0,)) == 0
    assert r.ttl("resque:" + key) == -1  # no expiry unless asked
    # A Ruby worker's run in between: SETNX -1 (a no-op now), INCR.
    r.setnx("resque:" + key, -1)
    assert r.incr("resque:" + key) == 1
    assert attempts.begin(key, 100, 1.0, (5, 60)) == 2
    assert 155 < r.ttl("resque:" + key) <= 160  # the third run's delay (the last) + 100


def test_finish_records_each_outcome_once_with_its_retry(store, r):
    attempts = Attempts(store)
    raw = encode("Archive", [35, "tar"])
    key = retry.attempt_key("Archive", retry.identifier([35, "tar"]))
    attempts.begin(key, None, 1.0, (0,))
    _in_hand(r, raw)
    entry = b'{"class":"Archive","args":[35,"tar"],"queue":"low"}'
    again = Requeue("low", 2_000_000_000, entry, 20)
    assert attempts.finish(WID, 0, key, b'{"kept":1}', again)
    assert not attempts.finish(WID, 0, key, b'{"kept":1}', again)  # a retried call: no change
    assert r.lrange("resque:delayed:2000000000", 0, -1) == [entry]
    assert r.zrange("resque:delayed_queue_schedule", 0, -1, withscores=True) == [
        (b"2000000000", 2e9)
    ]
    assert r.get("resque:failure-" + key) == b'{"kept":1}' and r.ttl("resque:failure-" + key) > 0
    assert not r.exists(f"resque:worker:{WID}") and r.llen("resque:failed") == 0
    assert r.get(f"resque:stat:processed:{WID}") == b"1" and r.get("resque:stat:failed") == b"1"
    # The next run fails for good: one record, both keys gone.
    attempts.begin(key, None, 1.0, (0,))
    _in_hand(r, raw)
    assert attempts.finish(WID, 1, key, b'{"final":1}')
    assert r.lrange("resque:failed", 0, -1) == [b'{"final":1}']
    assert not r.exists("resque:" + key, "resque:failure-" + key)
    # A delay of 0 queues it at once; success deletes the key.
    attempts.begin(key, None, 1.0, (0,))
    _in_hand(r, raw)
    assert attempts.finish(WID, 2, key, b"{}", Requeue("low", 0, raw, 0))
    assert r.lrange("resque:queue:low", 0, -1) == [raw] and b"low" in r.smembers("resque:queues")
    assert not r.exists("resque:failure-" + key)  # a delay of 0 keeps no failure
    _in_hand(r, raw)
    assert attempts.finish(WID, 3, key, None)
    assert not r.exists("resque:" + key)
    assert r.get(f"resque:stat:processed:{WID}") == b"4" and r.get("resque:stat:failed") == b"3"


def test_the_final_record_is_resques_with_the_retries_made(store, r):
    job = Job("default", encode("Archive", [1]), {"class": "Archive", "args": [1]})
    raw = final_failure(job, Outcome("RuntimeError", "boom", ["a.py:1"]), WID, 3)
    doc = json.loads(raw)
    assert list(doc) == [
        "failed_at", "payload", "exception", "error", "backtrace", "worker", "queue",
        "retry_attempt",
    ]  # fmt: skip
    assert doc["retry_attempt"] == 3 and doc["payload"] == {"class": "Archive", "args": [1]}


def test_retrying_queues_on_the_class_queue_after_its_delay(store, r):
    class Slow:
        queue = "slow"
        resqued_retry = Retry(limit=2, backoff=[10])

    job = Job("default", encode("Slow", ["x"]), {"class": "Slow", "args": ["x"]})
    retrying = Retrying(Attempts(store), WID)
    run = retrying.begin(job, Slow)
    assert run == Run(
        Slow.resqued_retry, retry.attempt_key("Slow", retry.identifier(["x"])), 0, "slow"
    )
    _in_hand(r, job.raw)
    now = int(time.time())
    retrying.finish(run, job, Outcome("RuntimeError", "e", [], retryable=True), 0)
    [epoch] = [int(e) for e in r.zrange("resque:delayed_queue_schedule", 0, -1)]
    assert now + 10 <= epoch <= int(time.time()) + 10
    kept = json.loads(r.get("resque:failure-" + run.key))
    assert kept["failed_at"].count("/") == 2 and "UTC" not in kept["failed_at"]  # Ruby's form
    # Not retryable: straight to failed, whatever the attempt.
    run = retrying.begin(job, Slow)
    _in_hand(r, job.raw)
    retrying.finish(run, job, Outcome("ValueError", "v", [], retryable=False), 1)
    assert json.loads(r.lindex("resque:failed", 0))["retry_attempt"] == 1
    assert r.keys("resque:*resque-retry*") == []
