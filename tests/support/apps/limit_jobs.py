"""Jobs for the guard rails: each records what happened to it in Redis lists.

``events`` gets ``<what>:<key>`` lines (started, soft, cleanup, done,
on_failure, allocated); ``pids`` gets ``<key>:<pid>:<parent pid>``.
"""

import os
import time

import redis

import resqued

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis() -> redis.Redis:
    return redis.Redis.from_url(REDIS_URL)


def note(what: str, key: str) -> None:
    _redis().rpush("events", f"{what}:{key}")


class Recorded:
    @staticmethod
    def on_failure_note(exc, key, *rest):
        _redis().rpush("events", f"on_failure:{key}:{type(exc).__name__}")


@resqued.job("Patient")
class Patient(Recorded):
    """Sleeps in short steps (interruptible in every mode); cleans up on SoftTimeout."""

    @staticmethod
    def perform(key, seconds):
        note("started", key)
        try:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                time.sleep(0.05)
        except resqued.SoftTimeout:
            note("soft", key)
            return
        finally:
            note("cleanup", key)
        note("done", key)


@resqued.job("Stubborn")
class Stubborn(Recorded):
    """Catches SoftTimeout and keeps going: only the hard limit ends it."""

    @staticmethod
    def perform(key):
        note("started", key)
        while True:
            try:
                time.sleep(0.05)
            except resqued.SoftTimeout:
                note("soft", key)


@resqued.job("Report", timeout=30, soft_timeout=1)
class Report(Patient):
    """Patient, with its own limits (the class's win over the worker's)."""


@resqued.job("Allocate")
class Allocate(Recorded):
    """Holds ``mb`` MB (touched) until ``release:<key>`` is set, then finishes."""

    @staticmethod
    def perform(key, mb):
        r = _redis()
        block = b"\x01" * (mb * 1024 * 1024)
        r.rpush("events", f"allocated:{key}:{os.getpid()}")
        while not r.exists(f"release:{key}"):
            time.sleep(0.05)
        del block
        r.rpush("events", f"done:{key}")


@resqued.job("WhoRuns")
class WhoRuns:
    """Records the pid that ran it and that pid's parent."""

    @staticmethod
    def perform(key):
        _redis().rpush("pids", f"{key}:{os.getpid()}:{os.getppid()}")


@resqued.job("Steady")
class Steady:
    """No time limit of its own, whatever the worker's (0 switches a limit off)."""

    job_timeout = 0
    job_soft_timeout = 0

    @staticmethod
    def perform(key, seconds):
        note("started", key)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(0.05)
        note("done", key)
