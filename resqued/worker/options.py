"""What a worker is told at start: its mode, intervals and limits."""

from __future__ import annotations

from dataclasses import dataclass


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
