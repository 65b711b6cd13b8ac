"""The deploy storm: HUP, then USR2, of every master at once under a steady flow of jobs.

A producer pushes ``rate`` jobs a second (5 ms jobs that record their start
and their id) while, after a steady window, every master gets HUP at the
same instant (a new listener each; the workers handed over one by one),
then, once every master runs only new workers (or ``settle_s`` has passed),
another steady window and USR2 of every master at once (the masters
re-exec, the workers stay).  A sampler counts worker processes (children of
the masters' listeners) and registered workers every ``SAMPLE`` s.  Then the
load stops, every job must start: the figures are the longest interval with
no job started in each window, the fewest workers, the jobs lost (never
started) and run twice, the seconds the HUP took to settle and what it cost
Redis (CPU, commands, calls over 10 ms).
"""

from __future__ import annotations

import collections
import json
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import redis

from bench._common import text, wait_until
from bench.fleet import Fleet
from bench.redis_cost import Cost, Meter

SAMPLE = 0.1
TAIL = 1.0  # the HUP window runs this long past the moment it settled


@dataclass
class Storm:
    gaps_ms: dict[str, float] = field(default_factory=dict)  # steady, HUP, steady2, USR2
    fewest: dict[str, int] = field(default_factory=dict)  # worker processes, per window
    fewest_registered: dict[str, int] = field(default_factory=dict)
    settle_s: float = 0.0
    settled: bool = False
    kept: bool = False  # USR2 kept every worker
    sent: int = 0
    lost: int = 0
    twice: int = 0
    hup: Cost | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "gaps_ms": {k: round(v, 1) for k, v in self.gaps_ms.items()},
            "fewest_worker_processes": self.fewest,
            "fewest_registered": self.fewest_registered,
            "hup_settle_s": round(self.settle_s, 2),
            "hup_settled": self.settled,
            "usr2_kept_workers": self.kept,
            "jobs": self.sent,
            "lost": self.lost,
            "twice": self.twice,
            "hup_redis": self.hup.to_json() if self.hup else None,
        }


def longest_gap(starts: list[float], begin: float, end: float) -> float:
    """Longest interval in [begin, end] with no start (the window's edges count as starts)."""
    window = [begin, *(t for t in starts if begin <= t <= end), end]
    return max(b - a for a, b in zip(window, window[1:], strict=False))


class Load:
    """The steady flow of jobs and the sampler of worker counts, each in a thread."""

    def __init__(self, fleet: Fleet, rate: float) -> None:
        self.fleet, self.rate = fleet, rate
        self.halt = threading.Event()
        self.sent = 0
        self.samples: list[tuple[float, int, int]] = []  # (time, processes, registered)
        self.threads = [
            threading.Thread(target=self._produce, daemon=True),
            threading.Thread(target=self._sample, daemon=True),
        ]

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.halt.set()
        for t in self.threads:
            t.join()

    def _produce(self) -> None:
        pipe = redis.Redis.from_url(self.fleet.url, client_name="bench").pipeline(False)
        queue = f"resque:queue:{self.fleet.queue}"
        next_at = time.monotonic()
        while not self.halt.is_set():
            next_at += 1 / self.rate
            pause = next_at - time.monotonic()
            if pause > 0 and self.halt.wait(pause):
                break
            pipe.rpush(queue, json.dumps({"class": "Tick", "args": [self.sent]}))
            pipe.execute()
            self.sent += 1

    def _sample(self) -> None:
        client = redis.Redis.from_url(self.fleet.url, client_name="bench")
        while not self.halt.wait(SAMPLE):
            procs = len(self.fleet.worker_pids())
            self.samples.append((time.time(), procs, int(client.scard("resque:workers"))))

    def fewest(self, begin: float, end: float) -> tuple[int, int]:
        inside = [(p, r) for t, p, r in self.samples if begin <= t <= end]
        return min((p for p, _ in inside), default=0), min((r for _, r in inside), default=0)


def settled(fleet: Fleet, before: set[int]) -> bool:
    now = set(fleet.worker_pids())
    return len(now) == fleet.expected and not now & before


def run(
    fleet: Fleet,
    client: redis.Redis,
    meter: Meter,
    rate: float,
    steady_s: float,
    settle_s: float,
    usr2_s: float,
    log: Any,
) -> Storm:
    out = Storm()
    client.delete("bench:starts")
    windows: list[tuple[str, float, float]] = []
    with Load(fleet, rate) as load:
        t = time.time()
        time.sleep(steady_s)  # benchmark window: steady load
        windows.append(("steady", t, time.time()))
        before = set(fleet.worker_pids())
        t0, at = time.monotonic(), time.time()
        with meter.measure() as out.hup:
            fleet.signal_all(signal.SIGHUP)
            try:
                wait_until(lambda: settled(fleet, before), settle_s, "the HUP", step=0.25)
                out.settled = True
            except Exception:  # BenchError: reported as not settled
                out.settled = False
            out.settle_s = time.monotonic() - t0
        time.sleep(TAIL)  # benchmark window: the flow right after the last hand-over
        windows.append(("HUP", at, time.time()))
        log(f"deploy: HUP of {fleet.masters} masters settled={out.settled} in {out.settle_s:.1f} s")
        if out.settled:
            t = time.time()
            time.sleep(steady_s)  # benchmark window: steady again
            windows.append(("steady2", t, time.time()))
            kept_before = set(fleet.worker_pids())
            at = time.time()
            fleet.signal_all(signal.SIGUSR2)
            time.sleep(usr2_s)  # benchmark window: the flow through the re-exec
            windows.append(("USR2", at, time.time()))
            out.kept = set(fleet.worker_pids()) == kept_before
    out.sent = load.sent
    _count(client, out, load.sent)
    starts = sorted(float(text(x).split()[1]) for x in client.lrange("bench:starts", 0, -1))
    for name, begin, end in windows:
        out.gaps_ms[name] = longest_gap(starts, begin, end) * 1000
        out.fewest[name], out.fewest_registered[name] = load.fewest(begin, end)
    log(f"deploy: gaps {out.to_json()['gaps_ms']} ms, fewest {out.fewest}, lost {out.lost}")
    return out


def _count(client: redis.Redis, out: Storm, sent: int, wait_s: float = 120) -> None:
    """Wait (up to ``wait_s``) for every job to start; count those lost and those run twice."""
    try:
        wait_until(lambda: client.llen("bench:starts") >= sent, wait_s, "every job", step=0.1)
    except Exception:  # BenchError: some never started; counted below
        pass
    ids = collections.Counter(int(text(x).split()[0]) for x in client.lrange("bench:starts", 0, -1))
    out.lost = sum(1 for i in range(sent) if i not in ids)
    out.twice = sum(1 for n in ids.values() if n > 1)
