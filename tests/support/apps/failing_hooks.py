"""Worker hooks that raise when the Redis key ``fail:<hook>`` is set (``once`` deletes it).

Every hook call and job appends to the Redis list ``events``.
"""

import os

import redis

import resqued

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis() -> redis.Redis:
    return redis.Redis.from_url(REDIS_URL)


def _maybe_fail(kind: str) -> None:
    r = _redis()
    r.rpush("events", f"{kind}:{os.getpid()}")
    mode = r.get(f"fail:{kind}")
    if mode == b"once":
        r.delete(f"fail:{kind}")
    if mode:
        raise RuntimeError(f"{kind} said no")


@resqued.job("Job")
class Job:
    queue = "default"

    @staticmethod
    def perform(value):
        _redis().rpush("done", value)

    @staticmethod
    def on_failure_note(exc, value):
        _redis().rpush("events", f"on_failure:{type(exc).__name__}:{exc}:{value}")


def _register(kind: str) -> None:
    resqued.worker_hook(kind)(lambda *args: _maybe_fail(kind))


for _kind in (
    "before_first_fork",
    "before_fork",
    "after_fork",
    "queue_empty",
    "before_pause",
    "after_pause",
    "shutdown",
    "worker_exit",
):
    _register(_kind)
