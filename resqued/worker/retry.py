"""Calling Redis until it answers: backoff, one log line per outage, and giving up on stop."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import redis

from resqued.process.backoff import Backoff
from resqued.resque.store import Store
from resqued.worker.control import Control

log = logging.getLogger("resqued")

REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError)
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

    def call(self, fn: Callable[[], T], give_up_on_stop: bool = False) -> T | GaveUp:
        """``fn()`` once Redis answers. GAVE_UP on TERM, or on QUIT with ``give_up_on_stop``."""
        while True:
            try:
                result = fn()
            except REDIS_DOWN as exc:
                self.down(exc)
                if self.control.stopping_now or (give_up_on_stop and self.control.stopping):
                    return GAVE_UP
                self.control.sleep(self.backoff.failed())
                continue
            self.up()
            return result

    def down(self, exc: Exception) -> None:
        """Redis did not answer: log it once per outage."""
        if not self.outage:
            self.outage = True
            log.error("redis at %s unavailable (%s); retrying", self.store.safe_url, exc)

    def up(self) -> None:
        if self.outage:
            self.outage = False
            log.warning("redis at %s is back", self.store.safe_url)
        self.backoff.succeeded()

    def pause_after_failure(self, exc: Exception) -> None:
        """A wait failed on a Redis error: log it (once) and back off."""
        self.down(exc)
        self.control.sleep(self.backoff.failed())
