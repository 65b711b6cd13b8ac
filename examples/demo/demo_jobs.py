"""Demo jobs: Ruby-named jobs, a slow one, a failing one, and quick ones that flow."""

import os
import time

import redis

import resqued


@resqued.job("Archive")
class Archive:
    """Pretends to archive a repository; prints which worker process ran it."""

    queue = "high"

    @staticmethod
    def perform(repo_id, kind="tar"):
        time.sleep(0.2)
        print(f"archived repo {repo_id} as {kind} in pid {os.getpid()}", flush=True)


@resqued.job("Mailers::Welcome")
class Welcome:
    queue = "low"

    @staticmethod
    def perform(user):
        print(f"welcome mail to {user} from pid {os.getpid()}", flush=True)


@resqued.job("Flaky")
class Flaky:
    queue = "low"

    @staticmethod
    def perform(n):
        raise RuntimeError(f"flaky job {n} failed (see `resqued status` and resque:failed)")


@resqued.job("Reports::Monthly")
class MonthlyReport:
    """Slow enough to be seen in ``ps`` (and to show that HUP lets it finish)."""

    queue = "low"

    @staticmethod
    def perform(seconds):
        time.sleep(seconds)
        print(f"monthly report done after {seconds}s in pid {os.getpid()}", flush=True)


@resqued.job("Images::Resize")
class Resize:
    """A quick job, enqueued by the hundred to show jobs flowing. Every 40th fails on its
    first try (a flaky thumbnail service), so ``resqued failed retry`` then succeeds."""

    queue = "images"

    @staticmethod
    def perform(image):
        time.sleep(0.05)
        if image % 40 == 0 and _first_try(f"demo:resize:{image}"):
            raise TimeoutError(f"thumbnail service timed out on image {image}; retry it")


def _first_try(key):
    """True the first time ``key`` is seen (SET NX on the demo's Redis)."""
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    try:
        return bool(client.set(key, 1, nx=True))
    finally:
        client.close()
