"""How much each mode measures: the full run, and the quick one (fewer rounds, jobs, rows)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
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


@dataclass(frozen=True)
class ScaleSettings:
    """The scale row (row 10): one fleet of ``masters`` x ``workers`` on one Redis."""

    masters: int
    workers: int
    ref_workers: int  # the reference fleet: one master with this many workers
    queues: int  # idle queues in the queue set, one job each
    idle_s: float  # idle window
    latency_jobs: int
    drain_jobs: int  # in process
    fork_drain_jobs: int
    deploy_rate: float  # jobs/s during the deploy storm
    deploy_steady_s: float
    deploy_settle_s: float  # longest wait for a HUP of every master to settle
    deploy_usr2_s: float
    failed_sizes: tuple[int, ...]
    unrelated_keys: int
    fork: bool  # also measure the fleet forking per job

    def describe(self) -> str:
        sizes = ", ".join(f"{n:,}" for n in self.failed_sizes)
        return (
            f"scale: {self.masters} masters x {self.workers} workers "
            f"({self.masters * self.workers:,}) on one Redis vs 1 x {self.ref_workers}, in process"
            f"{' and fork per job' if self.fork else ''}; {self.queues:,} idle queues; idle "
            f"{self.idle_s:g} s; {self.latency_jobs} latency samples; drains of "
            f"{self.drain_jobs:,} (in process) and {self.fork_drain_jobs:,} (fork) jobs; deploy "
            f"storm at {self.deploy_rate:g} jobs/s; failed lists of {sizes}; "
            f"{self.unrelated_keys:,} unrelated keys"
        )


SCALE = ScaleSettings(
    masters=32,
    workers=32,
    ref_workers=8,
    queues=1000,
    idle_s=30.0,
    latency_jobs=200,
    drain_jobs=50_000,
    fork_drain_jobs=5_000,
    deploy_rate=200,
    deploy_steady_s=5.0,
    deploy_settle_s=120.0,
    deploy_usr2_s=10.0,
    failed_sizes=(10_000, 100_000, 1_000_000),
    unrelated_keys=1_000_000,
    fork=True,
)

SCALE_QUICK = replace(
    SCALE,
    masters=2,
    workers=2,
    ref_workers=2,
    queues=20,
    idle_s=6.0,
    latency_jobs=20,
    drain_jobs=500,
    fork_drain_jobs=100,
    deploy_rate=50,
    deploy_steady_s=1.0,
    deploy_settle_s=60.0,
    deploy_usr2_s=2.0,
    failed_sizes=(1_000,),
    unrelated_keys=10_000,
)


@dataclass
class Context:
    """What every row runs against: one redis-server, its app directory, the settings."""

    client: redis.Redis
    url: str
    app_dir: Path
    settings: Settings
    rq: bool  # RQ is installed: measure the peer
    scale: ScaleSettings = SCALE  # row 10
    sections: list[tuple[str, str]] = field(default_factory=list)  # (title, Markdown)
    partial: dict[str, str] = field(default_factory=dict)  # parts of row 10 not measured: why
