"""Exponential backoff for things that keep failing (Redis, crashing workers, listeners)."""

from __future__ import annotations

import random


class Backoff:
    """Delays that double from ``initial`` up to ``maximum``, with a little jitter."""

    def __init__(self, initial: float = 0.1, maximum: float = 5.0) -> None:
        self.initial = initial
        self.maximum = maximum
        self.failures = 0

    def failed(self) -> float:
        """Record a failure; return how long to wait before the next try."""
        self.failures += 1
        return self.current()

    def current(self) -> float:
        if self.failures == 0:
            return 0.0
        delay = min(self.maximum, self.initial * (2 ** (self.failures - 1)))
        return float(delay * random.uniform(0.9, 1.1))

    def succeeded(self) -> None:
        self.failures = 0
