"""A module that must never be imported by a worker because a payload named it."""

import os

import redis

redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")).set(
    "evil-imported", os.getpid()
)


class Boom:
    @staticmethod
    def perform(*args):
        pass
