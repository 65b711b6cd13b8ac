"""How much each mode measures: the full run, and the quick one (fewer rounds, jobs, rows)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import redis


@dataclass(frozen=True)
class Settings:
    mode: str
    rounds: int  # interleaved rounds of rows 1-4
    workers: int  # worker processes on each side of rows 1-4
    inprocess_jobs: int  # ours, in process
    rq_simple_jobs: int  # RQ SimpleWorker pool
    fork_jobs: int  # ours, fork per job
    rq_fork_jobs: int  # RQ forking pool
    bare_forks: int  # per process, bare fork loop
    latency_jobs: int  # per round, enqueue-to-start
    latency_fork: bool  # also measure fork-per-job latency
    manager_workers: int
    app_mb: int
    manager_rounds: int
    deploy_rounds: int
    deploy_workers: int
    deploy_rate: float  # jobs enqueued per second
    deploy_phase: float  # seconds between signals
    thread_counts: tuple[int, ...]
    thread_rounds: int
    thread_seconds: float  # jobs per drain = threads x 100/s x this
    masters: tuple[int, ...]
    scale_rounds: int
    scale_jobs: int

    def describe(self) -> str:
        return (
            f"{self.mode} mode: {self.rounds} interleaved rounds of {self.workers} workers a side; "
            f"drains of {self.inprocess_jobs:,} (ours in process), {self.rq_simple_jobs:,} "
            f"(RQ SimpleWorker), {self.fork_jobs:,} (ours fork per job), {self.rq_fork_jobs:,} "
            f"(RQ forking) no-op jobs; {self.latency_jobs} latency samples a round; "
            f"{self.manager_workers} workers of a {self.app_mb} MB app x {self.manager_rounds}; "
            f"deploy gap x {self.deploy_rounds} ({self.deploy_workers} workers, "
            f"{self.deploy_rate:g} jobs/s, {self.deploy_phase:g} s phases); threads "
            f"{', '.join(map(str, self.thread_counts))} x {self.thread_rounds}; masters "
            f"{', '.join(map(str, self.masters))} x {self.scale_rounds} ({self.scale_jobs:,} jobs)"
        )


FULL = Settings(
    mode="full",
    rounds=5,
    workers=2,
    inprocess_jobs=20_000,
    rq_simple_jobs=3_000,
    fork_jobs=3_000,
    rq_fork_jobs=1_000,
    bare_forks=1_500,
    latency_jobs=200,
    latency_fork=True,
    manager_workers=32,
    app_mb=80,
    manager_rounds=3,
    deploy_rounds=3,
    deploy_workers=8,
    deploy_rate=400,
    deploy_phase=5.0,
    thread_counts=(1, 2, 4, 8, 16),
    thread_rounds=3,
    thread_seconds=3.0,
    masters=(1, 2, 4),
    scale_rounds=3,
    scale_jobs=20_000,
)

QUICK = replace(
    FULL,
    mode="quick",
    rounds=2,
    inprocess_jobs=4_000,
    rq_simple_jobs=400,
    fork_jobs=400,
    rq_fork_jobs=150,
    bare_forks=250,
    latency_jobs=40,
    latency_fork=False,
    manager_workers=8,
    app_mb=20,
    manager_rounds=1,
    deploy_rounds=1,
    deploy_workers=4,
    deploy_rate=200,
    deploy_phase=2.5,
    thread_counts=(1, 8),
    thread_rounds=1,
    thread_seconds=1.0,
    masters=(1, 2),
    scale_rounds=1,
    scale_jobs=4_000,
)


@dataclass
class Context:
    """What every row runs against: one redis-server, its app directory, the settings."""

    client: redis.Redis
    url: str
    app_dir: Path
    settings: Settings
    rq: bool  # RQ is installed: measure the peer
