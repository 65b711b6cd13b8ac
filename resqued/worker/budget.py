"""``jobs_per_fork``: how many jobs a worker process performs before it makes way.

Counted for the process, not per thread: every thread's worker takes a slot
before it reserves and gives it back when the reserve found no job, so
``--threads 4 --jobs-per-fork 5`` performs exactly 5 jobs, then exits (the
listener starts a fresh process).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("resqued")


class JobBudget:
    def __init__(self, limit: int, exhausted: Callable[[], None] | None = None) -> None:
        self.limit = limit
        self.used = 0  # jobs reserved so far
        self._reserving = 0  # slots held by reserves under way
        self._lock = threading.Lock()
        self._exhausted = exhausted  # called once, when the last slot took a job

    def take(self) -> bool:
        """A slot for one reserve; False when the process has had its jobs."""
        with self._lock:
            if self.used + self._reserving >= self.limit:
                return False
            self._reserving += 1
            return True

    def used_one(self) -> None:
        """The reserve took a job: its slot is spent."""
        with self._lock:
            self._reserving -= 1
            self.used += 1
            last = self.used == self.limit
        if last:
            log.info("%d jobs taken by this process: it makes way once they are done", self.limit)
            if self._exhausted is not None:
                self._exhausted()

    def give_back(self) -> None:
        """The reserve found no job."""
        with self._lock:
            self._reserving -= 1
