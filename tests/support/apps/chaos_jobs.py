"""Jobs of the chaos matrix: each completion appends ``done <id> <pid>`` to a file, not to Redis.

The file is ``$CHAOS_RECORD`` (one ``os.write`` with ``O_APPEND`` per line, so
lines never mix), so what ran is known whatever Redis went through.  Each
class has an expected end (tests/support/chaos.py):

- ``ChaosOk``: completes;
- ``ChaosBoom``: fails with ``ValueError``;
- ``ChaosSlow``: works 5 s against a 2-s hard limit: fails as ``resqued.JobTimeout``
  (a ``done`` line means the limit did not fire);
- ``ChaosHog``: holds 160 MB for 5 s, with no time limit, against the matrix's
  100 MiB memory limit: fails as ``resqued.MemoryLimitExceeded``.

Slow and hog jobs write ``start <id> <pid>`` first, so a fault can wait for one
to be running.
"""

import os
import random
import time

import resqued

RECORD = os.environ.get("CHAOS_RECORD", "chaos-record.txt")


def note(what: str, key: int) -> None:
    fd = os.open(RECORD, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{what} {key} {os.getpid()}\n".encode())
    finally:
        os.close(fd)


def work(seconds: float) -> None:
    """The job's own work: short sleeps, so every mode can interrupt it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)


@resqued.job("ChaosOk")
class ChaosOk:
    queue = "chaos"

    @staticmethod
    def perform(key):
        if key % 50 == 0:
            time.sleep(random.uniform(0, 0.05))  # some jobs are in flight when a fault lands
        note("done", key)


@resqued.job("ChaosBoom")
class ChaosBoom:
    queue = "chaos"

    @staticmethod
    def perform(key):
        raise ValueError(f"chaos boom {key}")


@resqued.job("ChaosSlow", timeout=2)
class ChaosSlow:
    queue = "chaos"

    @staticmethod
    def perform(key):
        note("start", key)
        work(5)
        note("done", key)


@resqued.job("ChaosHog", timeout=0)
class ChaosHog:
    queue = "chaos"

    @staticmethod
    def perform(key):
        note("start", key)
        block = bytearray(160 * 1024 * 1024)
        for i in range(0, len(block), 4096):
            block[i] = 1  # touched: resident, counted in the worker's PSS
        work(5)
        del block
        note("done", key)
