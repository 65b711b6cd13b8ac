"""Calling Redis until it answers: backoff, a log line per outage interval, giving up on stop.

An outage is a Redis that does not answer or that refuses writes (``OOM``,
``READONLY``, ``MISCONF``: see ``resqued/resque/outage.py``): the worker keeps its
process and its job, waits with backoff and obeys signals meanwhile.  The
first failure is logged at once, then one line every LOG_EVERY seconds with the
count of failed calls, and one line when Redis serves again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import redis

from resqued.backoff import Backoff
from resqued.resque import outage
from resqued.resque.store import Store
from resqued.worker.control import Control

log = logging.getLogger("resqued")

REDIS_DOWN = outage.UNREACHABLE
LOG_EVERY = 10.0  # seconds between the log lines of one outage
T = TypeVar("T")


class GaveUp:
    """What ``RedisRetry.call`` returns when the worker was told to stop during an outage."""


GAVE_UP = GaveUp()


class RedisRetry:
    def __init__(self, store: Store, control: Control) -> None:
        self.store = store
        self.control = control
        self.outage = False
        self.backoff = Backoff(0.1, 5.0)
        self.failures = 0  # failed calls in this outage
        self.since = 0.0  # monotonic: when this outage began
        self.next_log = 0.0

    def call(self, fn: Callable[[], T], give_up_on_stop: bool = False) -> T | GaveUp:
        """``fn()`` once Redis serves it. GAVE_UP on TERM, or on QUIT with ``give_up_on_stop``.

        Errors that are not an outage (a bug, a wrong type) are raised.
        """
        while True:
            try:
                result = fn()
            except redis.RedisError as exc:
                if not outage.is_outage(exc):
                    raise
                self.down(exc)
                if self.control.stopping_now or (give_up_on_stop and self.control.stopping):
                    return GAVE_UP
                self.control.sleep(self.backoff.failed())
                continue
            self.up()
            return result

    def down(self, exc: Exception) -> None:
        """Redis did not serve a call: log it at once, then once every LOG_EVERY seconds."""
        now = time.monotonic()
        url, what, why = self.store.safe_url, outage.what(exc), outage.reason(exc)
        if not self.outage:
            self.outage, self.failures, self.since = True, 1, now
            self.next_log = now + LOG_EVERY
            log.error("redis at %s %s (%s); retrying with backoff", url, what, why)
            return
        self.failures += 1
        if now >= self.next_log:
            self.next_log = now + LOG_EVERY
            log.error(
                "redis at %s still %s (%s): %d failed calls in %.0fs; retrying",
                url,
                what,
                why,
                self.failures,
                now - self.since,
            )

    def up(self) -> None:
        if self.outage:
            self.outage = False
            log.warning(
                "redis at %s is back after %.1fs (%d failed calls)",
                self.store.safe_url,
                time.monotonic() - self.since,
                self.failures,
            )
        self.backoff.succeeded()

    def pause_after_failure(self, exc: Exception) -> None:
        """A wait failed on an outage: log it and back off."""
        self.down(exc)
        self.control.sleep(self.backoff.failed())
