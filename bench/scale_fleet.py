"""What a running fleet costs and gives: idle Redis, connections, latency, a drain.

All measured on a fleet already registered (``bench.fleet.Fleet``), never
restarting it, so one start serves every figure:

- idle: Redis CPU (share of one core) and commands per worker per minute
  over a window with nothing queued;
- connections: the clients connected since the fleet started, less the
  benchmark's own (named ``bench``), per worker (the masters' and
  listeners' connections included), counted by the last command they sent
  (``CLIENT LIST``);
- latency: enqueue-to-start p50 and p99, one job at a time on the idle
  fleet (``resqued.enqueue_to``, the job pushes its start time);
- drain: ``n`` no-op jobs pushed at once, jobs/s and Redis CPU per job from
  the moment 5% are done to the last (as ``bench.measure`` does).
"""

from __future__ import annotations

import collections
import json
import time
from dataclasses import dataclass, field
from typing import Any

import redis

from bench._common import BenchError, text, wait_until
from bench.fleet import Fleet
from bench.redis_cost import Cost, Meter
from bench.stats import percentile

GAP = 0.02  # after each latency sample, so the worker is back in its idle wait
WARM = 0.05


@dataclass
class Figures:
    """One fleet's figures (``None`` where not measured)."""

    workers: int
    start_s: float = 0.0
    idle: Cost | None = None
    connections: int = 0
    clients_by_command: dict[str, int] = field(default_factory=dict)
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    drain_jobs_s: float = 0.0
    drain_cpu_us: float = 0.0
    drain: Cost | None = None
    hosts: int = 0

    @property
    def idle_cpu_pct(self) -> float:
        return 100 * self.idle.cpu_s / self.idle.seconds if self.idle else 0.0

    @property
    def idle_commands_per_worker_min(self) -> float:
        if not self.idle:
            return 0.0
        return self.idle.calls / self.workers / (self.idle.seconds / 60)

    @property
    def connections_per_worker(self) -> float:
        return self.connections / self.workers

    def to_json(self) -> dict[str, Any]:
        return {
            "workers": self.workers,
            "hosts": self.hosts,
            "start_s": round(self.start_s, 2),
            "idle": self.idle.to_json() if self.idle else None,
            "idle_cpu_pct": round(self.idle_cpu_pct, 3),
            "idle_commands_per_worker_min": round(self.idle_commands_per_worker_min, 2),
            "connections": self.connections,
            "clients_by_last_command": self.clients_by_command,
            "latency_ms": {"p50": self.p50_ms, "p99": self.p99_ms},
            "drain": self.drain.to_json() if self.drain else None,
            "drain_jobs_s": round(self.drain_jobs_s, 1),
            "drain_cpu_us_per_job": round(self.drain_cpu_us, 2),
        }


def idle(meter: Meter, seconds: float) -> Cost:
    return meter.idle(seconds)


def connections(client: redis.Redis, before: set[str]) -> tuple[int, dict[str, int]]:
    """Clients the fleet opened (new since ``before``, not named ``bench``), by last command."""
    clients = [
        c
        for c in client.client_list()
        if str(c["id"]) not in before and not str(c.get("name", "")).startswith("bench")
    ]
    by_cmd = collections.Counter(str(c.get("cmd", "?")).replace("|", " ") for c in clients)
    return len(clients), dict(by_cmd.most_common())


def latency(client: redis.Redis, url: str, queue: str, n: int) -> tuple[float, float]:
    """Enqueue-to-start p50 and p99 (ms) of ``n`` jobs sent one at a time."""
    import resqued

    producer = resqued.connect(url)
    client.delete("bench:starts")
    out: list[float] = []
    try:
        _samples(client, queue, n, out)
    finally:
        producer.redis.close()  # not counted among the fleet's connections later
    return percentile(out, 50), percentile(out, 99)


def _samples(client: redis.Redis, queue: str, n: int, out: list[float]) -> None:
    import resqued

    for i in range(n):
        enqueued = time.time()
        resqued.enqueue_to(queue, "Stamp", i)
        reply = client.blpop(["bench:starts"], 30)
        if reply is None:
            raise BenchError(f"latency: job {i} did not start within 30 s")
        index, started = text(reply[1]).split()
        if int(index) != i:
            raise BenchError(f"latency: job {index} started, expected {i}")
        out.append((float(started) - enqueued) * 1000)
        time.sleep(GAP)  # benchmark pacing: let the worker return to its idle wait


def drain(client: redis.Redis, meter: Meter, queue: str, n: int) -> tuple[float, Cost]:
    """Push ``n`` no-op jobs at once; jobs/s and Redis's cost from 5% done to the last."""
    base = int(client.get("resque:stat:processed") or 0)
    failed0 = int(client.get("resque:stat:failed") or 0)
    payload = json.dumps({"class": "Noop", "args": []})
    pipe = client.pipeline(transaction=True)
    pipe.sadd("resque:queues", queue)
    for i in range(0, n, 10_000):
        pipe.rpush(f"resque:queue:{queue}", *[payload] * min(10_000, n - i))
    pipe.execute()
    polls = [0]

    def done() -> int:
        polls[0] += 1
        return int(client.get("resque:stat:processed") or 0) - base

    first = max(1, int(n * WARM))
    wait_until(lambda: done() >= first, 300, f"{first} jobs of the drain", step=0.005)
    with meter.measure() as cost:
        done0, polls0 = done(), polls[0]
        wait_until(lambda: done() >= n, 600, f"{n} jobs of the drain", step=0.02)
        polls_in = polls[0] - polls0
    cost.commands["get"] = cost.commands.get("get", 0) - polls_in
    failed = int(client.get("resque:stat:failed") or 0) - failed0
    if failed:
        raise BenchError(f"drain: {failed} of {n} jobs failed")
    jobs = n - done0
    cost_jobs = max(1, jobs)
    return cost_jobs / cost.seconds, cost


def measure(
    fleet: Fleet,
    client: redis.Redis,
    meter: Meter,
    idle_s: float,
    latency_jobs: int,
    drain_jobs: int,
    log: Any,
) -> Figures:
    """Every figure of one fleet, already started: registered, idle, latency, drain."""
    from bench.fleet import hosts

    fig = Figures(workers=fleet.expected)
    fig.start_s = fleet.wait_registered(client, 600)
    fig.hosts = len(hosts(client))
    log(f"{fleet.name}: {fleet.expected} workers registered in {fig.start_s:.1f} s")
    time.sleep(min(5.0, idle_s / 4))  # settle: first reserves, beats and prunes pass
    fig.idle = idle(meter, idle_s)
    fig.connections, fig.clients_by_command = connections(client, fleet.clients_before)
    log(
        f"{fleet.name}: idle Redis {fig.idle_cpu_pct:.2f}% of a core, "
        f"{fig.idle_commands_per_worker_min:.1f} commands/worker/min, "
        f"{fig.connections_per_worker:.2f} connections/worker"
    )
    fig.p50_ms, fig.p99_ms = latency(client, fleet.url, fleet.queue, latency_jobs)
    log(f"{fleet.name}: enqueue-to-start p50 {fig.p50_ms:.2f} ms, p99 {fig.p99_ms:.2f} ms")
    rate, cost = drain(client, meter, fleet.queue, drain_jobs)
    jobs = rate * cost.seconds
    fig.drain_jobs_s, fig.drain, fig.drain_cpu_us = rate, cost, cost.cpu_s * 1e6 / jobs
    log(f"{fleet.name}: drain {rate:,.0f} jobs/s, {fig.drain_cpu_us:.1f} us Redis CPU a job")
    return fig
