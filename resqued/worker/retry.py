"""Calling Redis until it answers: backoff with jitter, few log lines, and giving up on stop.

An outage is logged when it starts and when it ends; one that lasts is logged
again every REPORT_EVERY seconds with the count of failed tries.  A Redis that
refuses some connections (``maxclients``) while it answers on others makes
outages that start and end many times a second: within REPORT_EVERY of the last
line they are counted, not logged, and the next line says how many tries
failed.  The wait between tries doubles from 0.1 s to 5 s and is drawn from
half to one and a half times that, so a fleet refused at once does not retry
at once.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

import redis

from resqued.process.backoff import Backoff
from resqued.resque.store import Store
from resqued.worker.control import Control

log = logging.getLogger("resqued")

REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError)
REPORT_EVERY = 60.0  # seconds: at most about one line per this about a Redis that fails
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
        self.failures = 0  # failed tries not yet reported
        self.reported_at = -REPORT_EVERY  # monotonic time of the last line
        self.logged = False  # the current outage's start was logged

    def call(self, fn: Callable[[], T], give_up_on_stop: bool = False) -> T | GaveUp:
        """``fn()`` once Redis answers. GAVE_UP on TERM, or on QUIT with ``give_up_on_stop``."""
        while True:
            try:
                result = fn()
            except REDIS_DOWN as exc:
                self.down(exc)
                if self.control.stopping_now or (give_up_on_stop and self.control.stopping):
                    return GAVE_UP
                self.control.sleep(self.delay())
                continue
            self.up()
            return result

    def delay(self) -> float:
        """The next wait: the backoff's, with jitter from half to one and a half times it."""
        return self.backoff.failed() * random.uniform(0.5, 1.5)

    def down(self, exc: Exception) -> None:
        """Redis did not answer: log the outage's start, then a count now and then."""
        self.failures += 1
        now = time.monotonic()
        if now - self.reported_at < REPORT_EVERY:
            if not self.outage:
                self.outage, self.logged = True, False  # counted; reported with the next line
            return
        url = self.store.safe_url
        if not self.outage or not self.logged:
            also = f" ({self.failures - 1} more failed tries since the last report)"
            log.error(
                "redis at %s unavailable (%s); retrying%s",
                url,
                exc,
                also if self.failures > 1 else "",
            )
        else:
            log.error(
                "redis at %s still unavailable (%s): %d failed tries in %.0fs; retrying",
                url,
                exc,
                self.failures,
                now - self.reported_at,
            )
        self.outage, self.logged = True, True
        self.failures, self.reported_at = 0, now

    def up(self) -> None:
        if self.outage:
            self.outage = False
            if self.logged:
                log.warning("redis at %s is back", self.store.safe_url)
                self.reported_at = time.monotonic()
                self.failures = 0
        self.backoff.succeeded()

    def pause_after_failure(self, exc: Exception) -> None:
        """A wait failed on a Redis error: log it (maybe) and back off."""
        self.down(exc)
        self.control.sleep(self.delay())
