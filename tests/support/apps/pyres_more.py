"""More pyres-style jobs (dotted-path names, static perform)."""

import os
import time

import redis


def _redis():
    return redis.Redis.from_url(os.environ["REDIS_URL"])


class Explode:
    queue = "math"

    @staticmethod
    def perform(n):
        raise ZeroDivisionError(f"cannot split {n}")


class Nap:
    queue = "math"

    @staticmethod
    def perform(key, seconds):
        _redis().rpush("started", f"{key}:{os.getpid()}")
        time.sleep(seconds)
        _redis().rpush("finished", key)
