"""Demo jobs: Ruby-named jobs, a slow one and a failing one."""

import os
import time

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
