"""Job classes the tests enqueue: each records what it did in Redis."""

import os
import time

import redis

import resqued

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis() -> redis.Redis:
    return redis.Redis.from_url(REDIS_URL)


@resqued.job("Record")
class Record:
    """Appends its argument and the pid that ran it to the ``record`` list."""

    queue = "default"

    @staticmethod
    def perform(value, *rest):
        _redis().rpush("record", f"{value}:{os.getpid()}")


@resqued.job("Sleep")
class Sleep:
    """Marks itself started, sleeps, then marks itself done."""

    queue = "default"

    @staticmethod
    def perform(key, seconds):
        r = _redis()
        r.rpush("started", f"{key}:{os.getpid()}")
        time.sleep(seconds)
        r.rpush("finished", key)


@resqued.job("Fail")
class Fail:
    queue = "default"

    @staticmethod
    def perform(message):
        raise RuntimeError(message)


@resqued.job("Noop")
class Noop:
    queue = "default"

    @staticmethod
    def perform(*args):
        pass
