"""Logged-in browsers and failed logins, in the dashboard's memory.

A session is a random id the login sets as a cookie and this store knows: logging
out forgets it (the cookie stops working at once), it ends after ``IDLE`` without
a request and ``LIFETIME`` after the login, and a restart of the dashboard ends
them all.  Failed logins (the form or a Bearer header) are throttled per client
address and in all.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

IDLE = 12 * 3600.0  # seconds without a request before a session ends
LIFETIME = 7 * 86400.0  # seconds after the login at most
MAX_SESSIONS = 10_000  # the oldest go first beyond this

FREE_FAILURES = 5  # failed logins a client may make before it waits
WINDOW = 900.0  # seconds a failure counts
MAX_WAIT = 900.0  # the longest wait asked of a client
GLOBAL_FAILURES = 100  # failed logins from every client together within WINDOW


@dataclass
class _Session:
    created: float
    seen: float


class Sessions:
    def __init__(
        self,
        idle: float = IDLE,
        lifetime: float = LIFETIME,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.idle, self.lifetime, self.clock = idle, lifetime, clock
        self._all: OrderedDict[str, _Session] = OrderedDict()
        self._lock = threading.Lock()

    def create(self) -> str:
        sid = secrets.token_urlsafe(32)
        now = self.clock()
        with self._lock:
            self._all[sid] = _Session(now, now)
            while len(self._all) > MAX_SESSIONS:
                self._all.popitem(last=False)
        return sid

    def valid(self, sid: str) -> bool:
        """Whether ``sid`` is a live session (and note that it was used now)."""
        if not sid:
            return False
        now = self.clock()
        with self._lock:
            s = self._all.get(sid)
            if s is None:
                return False
            if now - s.seen > self.idle or now - s.created > self.lifetime:
                del self._all[sid]
                return False
            s.seen = now
            return True

    def end(self, sid: str) -> None:
        with self._lock:
            self._all.pop(sid, None)

    def __len__(self) -> int:
        return len(self._all)


class Throttle:
    """After ``FREE_FAILURES`` failed logins within ``WINDOW``, a client waits 1 s, 2 s,
    4 s, ... (at most ``MAX_WAIT``) between tries; beyond ``GLOBAL_FAILURES`` in all,
    every client does."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> list[float]:
        kept = [t for t in self._failures.get(client, []) if now - t < WINDOW]
        if kept:
            self._failures[client] = kept
        else:
            self._failures.pop(client, None)
        return kept

    def wait(self, client: str) -> float:
        """Seconds ``client`` must wait before its next try (0: it may try now)."""
        now = self.clock()
        with self._lock:
            mine = self._recent(client, now)
            total = sum(len(self._recent(c, now)) for c in list(self._failures))
        waits = [self._due(mine, FREE_FAILURES, now)]
        if total >= GLOBAL_FAILURES:
            last = max((ts[-1] for ts in self._failures.values() if ts), default=now)
            waits.append(max(0.0, last + 1.0 - now))
        return max(waits)

    @staticmethod
    def _due(failures: list[float], free: int, now: float) -> float:
        over = len(failures) - free
        if over < 0:
            return 0.0
        pause = min(MAX_WAIT, 2.0**over)
        return max(0.0, failures[-1] + pause - now)

    def failed(self, client: str) -> None:
        with self._lock:
            self._failures.setdefault(client, []).append(self.clock())
            if len(self._failures) > MAX_SESSIONS:  # many addresses: forget the stalest
                oldest = min(self._failures, key=lambda c: self._failures[c][-1])
                del self._failures[oldest]

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)
