"""The configuration as plain data: what every source (DSL, YAML, flags) evaluates into."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from resqued.config.compat import Compat
from resqued.scheduler.spec import SchedulerSpec

HOOKS = ("before_exec", "before_fork", "after_fork", "after_exit", "after_spawn", "teardown")


@dataclass(frozen=True)
class QueueRule:
    """``queue(name)`` (all), ``queue(name, 20)`` (fixed) or ``queue(name, 0.1)`` (share)."""

    name: str
    count: int | None = None
    share: float | None = None

    def describe(self) -> str:
        if self.count is not None:
            return f"{self.name}={self.count}"
        if self.share is not None:
            return f"{self.name}={self.share * 100:g}%"
        return self.name


@dataclass(frozen=True)
class WorkerRow:
    """One worker process: its queues in priority order, and per-worker options."""

    queues: tuple[str, ...]
    interval: float | None = None
    # Guard rails for this row; None: the global setting applies (docs/guard-rails.md)
    job_timeout: float | None = None
    job_soft_timeout: float | None = None
    memory_limit: int | None = None  # bytes
    memory_soft_limit: int | None = None

    @property
    def queue_list(self) -> str:
        return ",".join(self.queues)


@dataclass
class Config:
    worker_processes: int | None = None
    queue_rules: list[QueueRule] = field(default_factory=list)
    workers: list[WorkerRow] = field(default_factory=list)
    preload_app: bool = True
    requires: list[str] = field(default_factory=list)
    redis_url: str | None = None
    namespace: str = "resque"
    pidfile: str | None = None
    stdout_path: str | None = None
    stderr_path: str | None = None
    interval: float = 5.0
    fork_per_job: bool = True
    jobs_per_fork: int = 0
    threads: int = 1
    term_child: bool = False
    term_timeout: float = 4.0
    shutdown_timeout: float = 30.0
    boot_timeout: float = 300.0  # a listener not ready after this long is stopped
    prune_interval: float = 30.0  # how often a listener prunes dead workers
    metrics: str | None = None  # ADDR:PORT of the master's Prometheus endpoint (off: None)
    # Guard rails (docs/guard-rails.md); 0 is off
    job_timeout: float = 0.0  # hard time limit per job, seconds
    job_soft_timeout: float = 0.0
    memory_limit: int = 0  # bytes (PSS of a worker and its job child)
    memory_soft_limit: int = 0
    jobs_per_fork_jitter: int = 0  # each worker process: jobs_per_fork + random 0..jitter
    max_age: float = 0.0  # seconds a worker process may live
    max_age_jitter: float = 0.0  # each worker process: max_age + random 0..jitter seconds
    stuck_timeout: float = 60.0  # no scoreboard heartbeat for this long: killed and replaced
    user: str | None = None
    group: str | None = None
    sources: list[str] = field(default_factory=list)
    hooks: dict[str, list[Callable[..., Any]]] = field(
        default_factory=lambda: {name: [] for name in HOOKS}
    )
    worker_factory: Callable[..., Any] | None = None
    config_loader: Callable[..., Any] | None = None
    environment: str | None = None  # -E: the YAML section and the config_loader's argument
    compat: Compat = field(default_factory=Compat)  # settings of the tools we replace
    scheduler: SchedulerSpec | None = None  # scheduler(): the mover (docs/scheduling.md)


@dataclass
class Overrides:
    """Values from the command line, applied over the config files. JSON round-trips."""

    values: dict[str, Any] = field(default_factory=dict)
    config_files: list[str] = field(default_factory=list)
    environment: str | None = None

    def to_json(self) -> str:
        values = dict(self.values)
        if "queue_rules" in values:
            values["queue_rules"] = [asdict(r) for r in values["queue_rules"]]
        if "workers" in values:
            values["workers"] = [asdict(w) for w in values["workers"]]
        return json.dumps(
            {"values": values, "config_files": self.config_files, "environment": self.environment}
        )

    @classmethod
    def from_json(cls, text: str) -> Overrides:
        doc = json.loads(text)
        values = doc["values"]
        if "queue_rules" in values:
            values["queue_rules"] = [QueueRule(**r) for r in values["queue_rules"]]
        if "workers" in values:
            values["workers"] = [
                WorkerRow(**{**w, "queues": tuple(w["queues"])}) for w in values["workers"]
            ]
        return cls(values, doc["config_files"], doc["environment"])
