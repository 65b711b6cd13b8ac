"""The deploy storm: HUP, then USR2, of every master at once under a steady flow of jobs.

A producer pushes ``rate`` jobs a second (5 ms jobs that record their start
and their id) through windows: steady; HUP of one master (the reference: a
deploy of one host), until it runs only new workers; steady; HUP of every
master at the same instant (a new listener each; the workers handed over one
by one), until every master runs only new workers (or ``settle_s`` has
passed); steady; USR2 of every master at once (the masters re-exec, the
workers stay).  A sampler counts worker processes (children of
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

from bench._common import BenchError, text, wait_until
from bench.fleet import Fleet
from bench.redis_cost import Cost, Meter

SAMPLE = 0.1
TAIL = 1.0  # the HUP window runs this long past the moment it settled


@dataclass
class Storm:
    gaps_ms: dict[str, float] = field(default_factory=dict)  # by window (steady, HUP one ...)
    fewest: dict[str, int] = field(default_factory=dict)  # worker processes, per window
    fewest_registered: dict[str, int] = field(default_factory=dict)
    settle_s: float = 0.0  # the HUP of every master
    settled: bool = False
    one_settle_s: float = 0.0  # the HUP of one master
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
            "hup_one_master_settle_s": round(self.one_settle_s, 2),
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


def settled(fleet: Fleet, before: set[int], masters: list[int]) -> bool:
    now = set(fleet.worker_pids(masters))
    return len(now) == fleet.workers * len(masters) and not now & before


def hup(fleet: Fleet, masters: int, settle_s: float) -> tuple[bool, float]:
    """HUP the first ``masters`` at once; (settled, seconds) once they run only new workers."""
    pids = fleet.master_pids()[:masters]
    before = set(fleet.worker_pids(pids))
    t0 = time.monotonic()
    fleet.signal_all(signal.SIGHUP, masters)
    try:
        wait_until(lambda: settled(fleet, before, pids), settle_s, "the HUP", step=0.25)
    except BenchError:
        return False, time.monotonic() - t0
    return True, time.monotonic() - t0


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

        def window(name: str, seconds: float, began: float = 0.0) -> None:
            """A window from ``began`` (default: now) to ``seconds`` from now."""
            t = began or time.time()
            time.sleep(seconds)  # benchmark window: the flow as it is
            windows.append((name, t, time.time()))

        window("steady", steady_s)
        at = time.time()
        ok, out.one_settle_s = hup(fleet, 1, settle_s)
        window("HUP one", TAIL, at)
        log(f"deploy: HUP of one master settled={ok} in {out.one_settle_s:.1f} s")
        window("steady2", steady_s)
        at = time.time()
        with meter.measure() as out.hup:
            out.settled, out.settle_s = hup(fleet, fleet.masters, settle_s)
        window("HUP", TAIL, at)
        log(f"deploy: HUP of {fleet.masters} masters settled={out.settled} in {out.settle_s:.1f} s")
        if out.settled:
            window("steady3", steady_s)
            kept_before = set(fleet.worker_pids())
            at = time.time()
            fleet.signal_all(signal.SIGUSR2)
            window("USR2", usr2_s, at)
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
    except BenchError:  # some never started: counted below
        pass
    ids = collections.Counter(int(text(x).split()[0]) for x in client.lrange("bench:starts", 0, -1))
    out.lost = sum(1 for i in range(sent) if i not in ids)
    out.twice = sum(1 for n in ids.values() if n > 1)
