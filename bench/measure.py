"""One drain of a pool, measured in steady state: jobs/s and Redis's cost per job.

The pool starts on an empty queue and registers; then all jobs appear at once
(one MULTI/EXEC). The window runs from the moment ``WARM`` of the jobs are
done to the last one, so start-up and the first wake-ups stay out of it.
Redis's counters are read with one ``INFO all`` at each end of the window:

- round trips: ``total_reads_processed`` (one read event per request a
  client sends; a pipeline is one);
- commands: every ``cmdstat_*`` call, the commands a Lua script runs included;
- CPU: ``used_cpu_sys + used_cpu_user`` of the redis-server process.

The benchmark's own polls and the closing ``INFO`` are subtracted from the
counts; their CPU is not (a poll every 0.2% of the window at most, 5 ms at
least apart), nor that of redis-server's 10 Hz timer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import redis

from bench._common import BenchError, wait_until
from bench.peers import Pool

WARM = 0.05
POLL = 0.005
MAX_POLL = 0.05
IGNORED = {"cmdstat_info", "cmdstat_config|resetstat"}


@dataclass
class Drain:
    jobs: int  # in the window
    seconds: float
    round_trips: int
    commands: dict[str, int]
    cpu_s: float

    @property
    def rate(self) -> float:
        return self.jobs / self.seconds

    @property
    def commands_per_job(self) -> float:
        return sum(self.commands.values()) / self.jobs

    @property
    def round_trips_per_job(self) -> float:
        return self.round_trips / self.jobs

    @property
    def cpu_us_per_job(self) -> float:
        return self.cpu_s * 1e6 / self.jobs

    def to_json(self) -> dict[str, Any]:
        per_job = {k: round(v / self.jobs, 3) for k, v in sorted(self.commands.items()) if v}
        return {
            "jobs": self.jobs,
            "seconds": self.seconds,
            "jobs_per_s": self.rate,
            "round_trips_per_job": self.round_trips_per_job,
            "commands_per_job": self.commands_per_job,
            "redis_cpu_us_per_job": self.cpu_us_per_job,
            "commands_per_job_by_name": per_job,
        }


def snapshot(client: redis.Redis) -> dict[str, Any]:
    info: dict[str, Any] = client.info("all")
    return info


def _calls(info: dict[str, Any]) -> dict[str, int]:
    return {k: int(v["calls"]) for k, v in info.items() if k.startswith("cmdstat_")}


def ready(client: redis.Redis, pool: Pool, timeout: float = 120) -> None:
    """Start ``pool`` on an empty database and wait until every worker is registered and idle."""
    client.flushall()
    pool.start()
    wait_until(lambda: pool.registered() >= pool.expected, timeout, f"{pool.expected} workers")
    time.sleep(0.5)  # settle: registered workers reach their blocking wait


def drain(client: redis.Redis, pool: Pool, job: str, n: int, timeout: float = 300) -> Drain:
    """Drain ``n`` jobs of ``job`` through ``pool`` (started and stopped here)."""
    ready(client, pool)
    try:
        first = max(1, int(n * WARM))
        pool.enqueue_bulk(job, n)
        enqueued = time.monotonic()
        wait_until(lambda: pool.processed() >= first, timeout, f"{first} jobs", step=POLL)
        t0 = time.monotonic()
        # Poll often enough to place the end within ~0.2% of the window, no more:
        # every poll costs Redis a little CPU, which slow drains would share out.
        step = min(MAX_POLL, max(POLL, (t0 - enqueued) / WARM / 500))
        done0 = pool.processed()
        polls0 = pool.polls
        before = snapshot(client)
        wait_until(lambda: pool.processed() >= n, timeout, f"{n} jobs", step=step)
        t1 = time.monotonic()
        after = snapshot(client)
        polls = pool.polls - polls0
        failed = pool.failed()
    finally:
        pool.stop()
    if failed:
        raise BenchError(f"{failed} of {n} jobs failed in {type(pool).__name__}")
    calls0, calls1 = _calls(before), _calls(after)
    commands = {k: v - calls0.get(k, 0) for k, v in calls1.items() if k not in IGNORED}
    poll_key = f"cmdstat_{pool.poll_command}"
    commands[poll_key] = commands.get(poll_key, 0) - polls
    commands = {k.removeprefix("cmdstat_"): v for k, v in commands.items() if v > 0}
    reads = int(after["total_reads_processed"]) - int(before["total_reads_processed"])
    cpu = sum(float(after[k]) - float(before[k]) for k in ("used_cpu_sys", "used_cpu_user"))
    return Drain(
        jobs=n - done0,
        seconds=t1 - t0,
        round_trips=reads - polls - 1,  # minus our polls and the closing INFO
        commands=commands,
        cpu_s=cpu,
    )
