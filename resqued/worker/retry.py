"""Calling Redis until it answers: backoff, a log line per outage interval, giving up on stop.

An outage is a Redis that does not answer or that refuses writes (``OOM``,
``READONLY``, ``MISCONF``: see ``resqued/resque/outage.py``): the worker keeps its
process and its job, waits with backoff and obeys signals meanwhile.  The
first failure is logged at once, then one line every LOG_EVERY seconds with the
count of failed calls, and one line when Redis serves again.  Idle waits
(``BLMOVE``) are refused while the reserve still works: the worker polls its
queues every ``interval`` meanwhile, and logs that outage on its own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import redis

from resqued.process.backoff import Backoff
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


class OutageLog:
    """The log lines of one kind of outage: the first failure at once, then one line every
    LOG_EVERY seconds with the count of failures, and one when it ends."""

    def __init__(self, store: Store, failures: str, meanwhile: str, back: str) -> None:
        self.store = store
        self.noun = failures  # what failed: "failed calls"
        self.meanwhile = meanwhile  # what the worker does meanwhile: "retrying with backoff"
        self.back = back  # how the end reads: "is back"
        self.active = False
        self.count = 0
        self.since = 0.0  # monotonic: when this outage began
        self.next_log = 0.0

    def failed(self, exc: Exception) -> None:
        now = time.monotonic()
        url, what, why = self.store.safe_url, outage.what(exc), outage.reason(exc)
        if not self.active:
            self.active, self.count, self.since = True, 1, now
            self.next_log = now + LOG_EVERY
            log.error("redis at %s %s (%s); %s", url, what, why, self.meanwhile)
            return
        self.count += 1
        if now >= self.next_log:
            self.next_log = now + LOG_EVERY
            log.error(
                "redis at %s still %s (%s): %d %s in %.0fs; %s",
                url,
                what,
                why,
                self.count,
                self.noun,
                now - self.since,
                self.meanwhile,
            )

    def ended(self) -> None:
        if self.active:
            self.active = False
            log.warning(
                "redis at %s %s after %.1fs (%d %s)",
                self.store.safe_url,
                self.back,
                time.monotonic() - self.since,
                self.count,
                self.noun,
            )


class RedisRetry:
    def __init__(self, store: Store, control: Control) -> None:
        self.store = store
        self.control = control
        self.backoff = Backoff(0.1, 5.0)
        self.calls = OutageLog(store, "failed calls", "retrying with backoff", "is back")
        # RESERVE still runs while Redis refuses writes (its first write is a pop), so a
        # refused idle wait is an outage of its own: the worker polls its queues instead.
        self.waits = OutageLog(store, "refused waits", "polling the queues", "takes waits again")

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
        """Redis did not serve a call: logged at once, then once every LOG_EVERY seconds."""
        self.calls.failed(exc)

    def up(self) -> None:
        self.calls.ended()
        self.backoff.succeeded()

    def pause_after_failure(self, exc: Exception) -> None:
        """An idle wait failed on an outage: log it and back off."""
        self.down(exc)
        self.control.sleep(self.backoff.failed())

    def wait_refused(self, exc: Exception, poll: float) -> None:
        """Redis refused an idle wait (BLMOVE writes): log it, sleep ``poll`` seconds."""
        self.waits.failed(exc)
        self.control.sleep(poll)

    def wait_taken(self) -> None:
        """An idle wait went through: Redis takes writes again."""
        self.waits.ended()
