"""A pyres-style job module: pyres names jobs by dotted path (``pyres_jobs.Square``)."""

import os

import redis


class Square:
    queue = "math"

    @staticmethod
    def perform(n):
        redis.Redis.from_url(os.environ["REDIS_URL"]).rpush("squares", n * n)
