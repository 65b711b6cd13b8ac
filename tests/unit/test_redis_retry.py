"""Retrying Redis: few log lines when it refuses many tries, backoff with jitter."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
import redis

from resqued.worker import retry as retry_mod
from resqued.worker.retry import REPORT_EVERY, RedisRetry

REFUSED = redis.ConnectionError("max number of clients reached")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(retry_mod.time, "monotonic", c)
    return c


def retrier() -> RedisRetry:
    store = SimpleNamespace(safe_url="redis://127.0.0.1:6379/0")
    return RedisRetry(store, SimpleNamespace())  # type: ignore[arg-type]


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "resqued"]


def test_a_refusing_redis_that_answers_in_between_is_logged_once_per_interval(clock, caplog):
    caplog.set_level(logging.INFO, "resqued")
    r = retrier()
    for _ in range(950):  # a try refused, the next one answered: a thousand times a second
        r.down(REFUSED)
        r.up()
        clock.now += 0.001
    assert len(lines(caplog)) == 2  # the first outage, and its end
    assert "unavailable" in lines(caplog)[0] and "is back" in lines(caplog)[1]
    clock.now += REPORT_EVERY
    r.down(REFUSED)
    last = lines(caplog)[-1]
    assert len(lines(caplog)) == 3
    assert "unavailable" in last and "949 more failed tries since the last report" in last


def test_a_long_outage_is_logged_again_now_and_then_with_a_count(clock, caplog):
    caplog.set_level(logging.INFO, "resqued")
    r = retrier()
    for _ in range(130):
        r.down(REFUSED)
        clock.now += 1.0
    said = lines(caplog)
    assert len(said) == 3
    assert "still unavailable" in said[1] and "60 failed tries in 60s" in said[1]
    r.up()
    assert "is back" in lines(caplog)[-1]


def test_the_wait_between_tries_grows_with_jitter():
    r = retrier()
    first = [RedisRetry.delay(retrier()) for _ in range(200)]
    assert min(first) >= 0.1 * 0.9 * 0.5 and max(first) <= 0.1 * 1.1 * 1.5
    assert len({round(d, 4) for d in first}) > 50  # not one delay for a whole fleet
    for _ in range(20):
        d = r.delay()
    assert 5.0 * 0.9 * 0.5 <= d <= 5.0 * 1.1 * 1.5
