"""What one Redis server says about the fleet, as plain typed data.

Every time is epoch seconds (float) or None when Redis holds none or an
unreadable one; ages and durations are measured against the Redis server's
clock, the same clock heartbeats use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from resqued.fleet.scheduler import Mover

WorkerState = Literal["waiting", "working", "paused", "stopping"]
WORKER_STATES: tuple[WorkerState, ...] = ("waiting", "working", "paused", "stopping")


@dataclass(frozen=True)
class CurrentJob:
    """The job in ``worker:<id>``: where it came from and how long it has run."""

    queue: str
    class_name: str
    args: list[Any]
    run_at: float | None
    seconds: float | None  # how long it has been running, None when run_at is unreadable
    payload: dict[str, Any]


@dataclass(frozen=True)
class Worker:
    """One id in ``workers``: ours, Ruby Resque's or pyres's."""

    id: str
    host: str
    pid: int | None
    thread: int | None  # N of a threaded worker's extra id ``host:pid:queues#N``
    queues: list[str]
    state: WorkerState
    job: CurrentJob | None
    processed: int
    failed: int
    started_at: float | None
    heartbeat_at: float | None
    master: str | None  # id of the resqued master whose workers.pids has this pid


@dataclass(frozen=True)
class Listener:
    pid: int | None
    number: int | None
    state: str  # starting, running or failed
    error: str | None


@dataclass(frozen=True)
class WorkerCounts:
    configured: int
    running: int
    pids: list[int]


@dataclass(frozen=True)
class Reload:
    at: float | None
    outcome: str  # ok, failed or pending
    error: str | None


@dataclass(frozen=True)
class Replacement:
    """A worker that went away and was replaced: when, which, and why."""

    at: float | None
    pid: int | None
    queues: str
    reason: str


@dataclass(frozen=True)
class Master:
    """A live resqued master, from its registration document."""

    id: str
    host: str
    pid: int
    version: str
    generation: int
    config: list[str]
    started_at: float | None
    heartbeat_at: float | None
    paused: bool  # its per-master pause key exists now
    state: str  # running, stopping or workers stopped
    listener: Listener | None
    workers: WorkerCounts
    last_reload: Reload | None
    replacements: dict[str, int]
    worker_ids: list[str] = field(default_factory=list)  # registered workers that are its
    recent_replacements: list[Replacement] = field(default_factory=list)  # newest last


@dataclass(frozen=True)
class Queue:
    name: str
    depth: int


@dataclass(frozen=True)
class Failure:
    """A summary of one record of the ``failed`` list."""

    index: int
    failed_at: float | None
    failed_at_text: str
    queue: str
    class_name: str
    exception: str
    error: str
    worker: str
    retried_at: float | None


@dataclass(frozen=True)
class Stats:
    processed: int
    failed: int
    failed_list: int  # records in the failed list now
    pending: int  # jobs waiting in all queues
    workers: int
    working: int


@dataclass(frozen=True)
class HostBeat:
    """How a host beats (``fleet/hosts.py``): its last beat (Redis clock), how often it
    beats, and whether that beat is a few beats late."""

    host: str
    beat_at: float | None  # None: no beat known (no record, no heartbeat)
    every: float
    unreachable: bool

    def silent_for(self, now: float) -> float | None:
        return None if self.beat_at is None else max(0.0, now - self.beat_at)


@dataclass(frozen=True)
class Fleet:
    """One snapshot of a Redis server's masters, workers, queues, stats and failures."""

    taken_at: float
    redis: str  # the URL with any password replaced by ***
    namespace: str
    paused_all: bool  # Resque's pause-all-workers
    stats: Stats
    masters: list[Master]
    workers: list[Worker]
    queues: list[Queue]
    failures: list[Failure]  # the newest, newest first
    host_beats: dict[str, HostBeat] = field(default_factory=dict)  # by host name
    scheduler: Mover | None = None  # delayed jobs and their mover (fleet/scheduler.py)

    def hosts(self) -> list[str]:
        """Every host with a master or a worker, A-Z."""
        return sorted({m.host for m in self.masters} | {w.host for w in self.workers})

    def unreachable(self, host: str) -> HostBeat | None:
        """The host's beat when it is a few beats late (else None)."""
        beat = self.host_beats.get(host)
        return beat if beat is not None and beat.unreachable else None

    def worker(self, worker_id: str) -> Worker | None:
        return next((w for w in self.workers if w.id == worker_id), None)

    def master(self, master_id: str) -> Master | None:
        return next((m for m in self.masters if m.id == master_id), None)
