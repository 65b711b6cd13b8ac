"""What a worker is told at start: its mode, intervals and limits (and their jitter)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TypeVar

N = TypeVar("N", int, float)


def jittered(value: N, spread: N) -> N:
    """``value`` plus a random 0..``spread`` (whole numbers stay whole); 0 (off) stays 0.

    Drawn once per worker process (``build.options_for``), for ``jobs_per_fork`` and
    ``max_age``: a fleet started at once is not recycled at once.
    """
    if not value or not spread:
        return value
    if isinstance(value, int) and isinstance(spread, int):
        return value + random.randint(0, spread)
    return value + random.uniform(0.0, spread)


@dataclass
class WorkerOptions:
    fork_per_job: bool = True
    interval: float = 5.0  # longest idle wait before the queues are looked at again
    jobs_per_fork: int = 0  # exit (to be replaced) after this many jobs; 0 = never
    term_child: bool = False
    term_timeout: float = 4.0
    prune: bool = True
    pause_key: str = ""  # resqued's per-master pause flag, when managed
    parent_pid: int = 0  # exit gracefully when this parent goes away (0 = standalone)
    # Guard rails (docs/guard-rails.md): the row's setting, else the global one; 0 = none.
    job_timeout: float = 0.0  # a job class's own limits win over these two
    job_soft_timeout: float = 0.0
    memory_limit: int = 0  # bytes; the listener watches memory, the title shows it
    memory_soft_limit: int = 0
    max_age: float = 0.0  # seconds (jitter included); the listener replaces the worker then
    burst: bool = False  # exit when the queues are empty (`resqued work --burst`, INTERVAL=0)

    @property
    def limits_tag(self) -> str:
        """`` [timeout 30s (soft 24s), 100 jobs, memory 2GiB (soft 1.5GiB), max age 3600s]``."""
        parts = []
        if self.job_timeout:
            soft = f" (soft {self.job_soft_timeout:g}s)" if self.job_soft_timeout else ""
            parts.append(f"timeout {self.job_timeout:g}s{soft}")
        elif self.job_soft_timeout:
            parts.append(f"soft timeout {self.job_soft_timeout:g}s")
        if self.jobs_per_fork:
            parts.append(f"{self.jobs_per_fork} job{'' if self.jobs_per_fork == 1 else 's'}")
        if self.memory_limit:
            soft = f" (soft {size(self.memory_soft_limit)})" if self.memory_soft_limit else ""
            parts.append(f"memory {size(self.memory_limit)}{soft}")
        elif self.memory_soft_limit:
            parts.append(f"soft memory {size(self.memory_soft_limit)}")
        if self.max_age:
            parts.append(f"max age {self.max_age:g}s")
        return f" [{', '.join(parts)}]" if parts else ""


def size(n: float) -> str:
    """Bytes as ``512MiB``, ``1.5GiB`` (IEC units), for titles and log lines."""
    for unit in ("TiB", "GiB", "MiB", "KiB"):
        scale = 2 ** (10 * (("KiB", "MiB", "GiB", "TiB").index(unit) + 1))
        if n >= scale:
            return f"{n / scale:.4g}{unit}"
    return f"{int(n)}B"
