"""Job classes for the compat commands' tests: queues of their own, and jobs that report."""

import os
import time

import redis

import resqued

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis() -> redis.Redis:
    return redis.Redis.from_url(REDIS_URL)


@resqued.job("Mailer")
class Mailer:
    """Records ``mail:<pid>`` in ``record``; its queue is what resque-starter defaults to."""

    queue = "mail"

    @staticmethod
    def perform(*args):
        _redis().rpush("record", f"mail:{os.getpid()}")


@resqued.job("Report")
class Report:
    queue = "reports"

    @staticmethod
    def perform(*args):
        _redis().rpush("record", f"report:{os.getpid()}")


@resqued.job("Env")
class Env:
    """Records the environment a job sees: RACK_ENV, RAILS_ENV, RESQUE_ENV and the uid."""

    queue = "mail"

    @staticmethod
    def perform(*args):
        names = ("RACK_ENV", "RAILS_ENV", "RESQUE_ENV")
        seen = ",".join(os.environ.get(n, "-") for n in names)
        _redis().rpush("env", f"{seen} uid={os.getuid()}")


@resqued.job("Spin")
class Spin:
    """Marks itself started, then works in short steps for ``seconds`` (interruptible)."""

    queue = "mail"

    @staticmethod
    def perform(key, seconds):
        r = _redis()
        r.rpush("started", f"{key}:{os.getpid()}")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(0.05)  # the job's own work, in steps a signal can interrupt
        r.rpush("finished", key)


@resqued.job("Say")
class Say:
    """Prints its text on stdout (where the log file goes)."""

    queue = "mail"

    @staticmethod
    def perform(text):
        print(text, flush=True)
