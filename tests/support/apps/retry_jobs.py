"""Jobs with ``retry=``: each run is noted as ``<class>:<key>:<pid>`` in the ``runs`` list."""

import os
import time

import redis

import resqued

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis() -> redis.Redis:
    return redis.Redis.from_url(REDIS_URL)


def ran(cls: str, key: str) -> int:
    """Note a run; how many runs of ``key`` there were, this one included."""
    r = _redis()
    r.rpush("runs", f"{cls}:{key}:{os.getpid()}")
    return int(r.incr(f"runs:{key}"))


@resqued.job("AlwaysFails", retry=resqued.Retry(limit=3))
class AlwaysFails:
    queue = "default"

    @staticmethod
    def perform(key):
        raise RuntimeError(f"fails every time (run {ran('AlwaysFails', key)})")


@resqued.job("SecondTime", retry=resqued.Retry(limit=3))
class SecondTime:
    queue = "default"

    @staticmethod
    def perform(key):
        if ran("SecondTime", key) < 2:
            raise ConnectionError("first run fails")


@resqued.job("Backoff", retry=resqued.Retry(backoff=[30, 90]))
class Backoff:
    queue = "later"

    @staticmethod
    def perform(key):
        ran("Backoff", key)
        raise RuntimeError("again later")


@resqued.job("OnlyKeyErrors", retry=resqued.Retry(limit=3, exceptions=(KeyError,)))
class OnlyKeyErrors:
    queue = "default"

    @staticmethod
    def perform(key):
        ran("OnlyKeyErrors", key)
        raise ValueError("not a KeyError: not retried")


@resqued.job(
    "SlowRetried", timeout=1, retry=resqued.Retry(limit=1, exceptions=(resqued.JobTimeout,))
)
class SlowRetried:
    queue = "default"

    @staticmethod
    def perform(key):
        ran("SlowRetried", key)
        time.sleep(30)


@resqued.job("SlowNotRetried", timeout=1, retry=resqued.Retry(limit=1))
class SlowNotRetried:
    queue = "default"

    @staticmethod
    def perform(key):
        ran("SlowNotRetried", key)
        time.sleep(30)
