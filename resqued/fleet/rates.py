"""Jobs per second, from samples of Resque's global ``stat:processed`` and ``stat:failed``.

Redis keeps only running totals; a reader that samples them now and then turns
them into rates.  A total that went down (Redis restarted empty, stats reset)
counts as a fresh start, never as a negative rate.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from resqued.resque.store import Store

WINDOW = 600.0  # seconds of history kept


@dataclass(frozen=True)
class Sample:
    at: float  # Redis server time
    processed: int
    failed: int


@dataclass(frozen=True)
class Rate:
    at: float  # end of the interval
    processed: float  # jobs per second over the interval
    failed: float


class RateSampler:
    """Keeps the last ``window`` seconds of samples; ``rates()`` turns them into rates."""

    def __init__(self, window: float = WINDOW) -> None:
        self.window = window
        self.samples: deque[Sample] = deque()

    def add(self, sample: Sample) -> None:
        if self.samples and sample.at <= self.samples[-1].at:
            return  # a clock that did not move on gives no interval
        self.samples.append(sample)
        while self.samples and self.samples[0].at < sample.at - self.window:
            self.samples.popleft()

    def sample(self, store: Store) -> Sample:
        """Read both totals and the server time in one round trip, and keep the sample."""
        pipe = store.redis.pipeline(transaction=True)
        pipe.time()
        pipe.get(store.keys.processed)
        pipe.get(store.keys.failed_count)
        (sec, usec), processed, failed = pipe.execute()
        s = Sample(sec + usec / 1e6, int(processed or 0), int(failed or 0))
        self.add(s)
        return s

    def rates(self) -> list[Rate]:
        out = []
        pairs = zip(list(self.samples), list(self.samples)[1:], strict=False)
        for a, b in pairs:
            span = b.at - a.at
            p = b.processed - a.processed if b.processed >= a.processed else b.processed
            f = b.failed - a.failed if b.failed >= a.failed else b.failed
            out.append(Rate(b.at, p / span, f / span))
        return out
