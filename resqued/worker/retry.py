"""Calling Redis until it serves: backoff with jitter, few log lines, and giving up on stop.

An outage is a Redis that does not answer, or that answers and refuses writes
(``OOM``, ``READONLY``, ``MISCONF``: ``resqued/resque/outage.py``): the worker
keeps its process and its job, waits and obeys signals meanwhile.  An outage
is logged when it starts and when it ends; one that lasts is logged again
every REPORT_EVERY seconds with the count of failed tries.  A Redis that
refuses some connections (``maxclients``) while it answers on others makes
outages that start and end many times a second: within REPORT_EVERY of the last
line they are counted, not logged, and the next line says how many tries
failed.  The wait between tries doubles from 0.1 s to 5 s and is drawn from
half to one and a half times that, so a fleet refused at once does not retry
at once.

Idle waits (``BLMOVE``) are refused while Redis refuses writes, but the reserve
still runs then (its first write is a pop): a refused wait is an outage of its
own, logged the same way, and the worker polls its queues every ``interval``.
"""

from __future__ import annotations

import logging
import random
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
REPORT_EVERY = 60.0  # seconds: at most about one line per this about a Redis that fails
T = TypeVar("T")


class GaveUp:
    """What ``RedisRetry.call`` returns when the worker was told to stop during an outage."""


GAVE_UP = GaveUp()


class OutageLog:
    """The log lines of one kind of outage: its start, a count every REPORT_EVERY seconds
    while it lasts (or keeps starting and ending), and its end."""

    def __init__(self, store: Store, tries: str, meanwhile: str, back: str) -> None:
        self.store = store
        self.tries = tries  # what the count counts: "failed tries"
        self.meanwhile = meanwhile  # what the worker does meanwhile: "retrying"
        self.back = back  # how its end reads: "is back"
        self.active = False
        self.failures = 0  # failed tries not yet reported
        self.reported_at = -REPORT_EVERY  # monotonic time of the last line
        self.logged = False  # the current outage's start was logged

    def failed(self, exc: Exception) -> None:
        self.failures += 1
        now = time.monotonic()
        if now - self.reported_at < REPORT_EVERY:
            if not self.active:
                self.active, self.logged = True, False  # counted; reported with the next line
            return
        url, what, why = self.store.safe_url, outage.what(exc), outage.reason(exc)
        if not self.active or not self.logged:
            also = f" ({self.failures - 1} more {self.tries} since the last report)"
            log.error(
                "redis at %s %s (%s); %s%s",
                url,
                what,
                why,
                self.meanwhile,
                also if self.failures > 1 else "",
            )
        else:
            log.error(
                "redis at %s still %s (%s): %d %s in %.0fs; %s",
                url,
                what,
                why,
                self.failures,
                self.tries,
                now - self.reported_at,
                self.meanwhile,
            )
        self.active, self.logged = True, True
        self.failures, self.reported_at = 0, now

    def ended(self) -> None:
        if self.active:
            self.active = False
            if self.logged:
                log.warning("redis at %s %s", self.store.safe_url, self.back)
                self.reported_at = time.monotonic()
                self.failures = 0


class RedisRetry:
    def __init__(self, store: Store, control: Control) -> None:
        self.store = store
        self.control = control
        self.backoff = Backoff(0.1, 5.0)
        self.calls = OutageLog(store, "failed tries", "retrying", "is back")
        self.waits = OutageLog(store, "refused waits", "polling the queues", "takes waits again")

    @property
    def outage(self) -> bool:
        return self.calls.active

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
                self.control.sleep(self.delay())
                continue
            self.up()
            return result

    def delay(self) -> float:
        """The next wait: the backoff's, with jitter from half to one and a half times it."""
        return self.backoff.failed() * random.uniform(0.5, 1.5)

    def down(self, exc: Exception) -> None:
        """Redis did not serve a call: log the outage's start, then a count now and then."""
        self.calls.failed(exc)

    def up(self) -> None:
        self.calls.ended()
        self.backoff.succeeded()

    def pause_after_failure(self, exc: Exception) -> None:
        """A wait failed on an outage: log it (maybe) and back off."""
        self.down(exc)
        self.control.sleep(self.delay())

    def wait_refused(self, exc: Exception, poll: float) -> None:
        """Redis refused an idle wait (BLMOVE writes): log it (maybe), sleep ``poll`` seconds."""
        self.waits.failed(exc)
        self.control.sleep(poll)

    def wait_taken(self) -> None:
        """An idle wait went through: Redis takes writes again."""
        self.waits.ended()
