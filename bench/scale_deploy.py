"""The deploy storm: HUP, then USR2, of every master at once under a steady flow of jobs.

A producer pushes ``rate`` jobs a second (5 ms jobs that record their id,
when they were sent and when they started) through windows: steady; HUP of
one master (the reference: a deploy of one host), until it runs only new
workers; steady; HUP of every master at the same instant (a new listener
each; the workers handed over one by one), until every master runs only new
workers (or ``settle_s`` has passed); steady; USR2 of every master at once
(the masters re-exec, the workers stay).  A sampler counts, every ``SAMPLE``
s, the workers registered and those in their idle wait (Redis's
``blocked_clients``: ready to take a job), and every ``PROCS_EVERY`` samples
the worker processes (children of the masters' listeners).  Then the load
stops and every job must start: the figures are, per window, the longest
interval with no job started and the longest a job sent in it waited to
start, the fewest workers, the jobs lost (never started) and run twice, the
seconds the HUP took to settle and what it cost Redis (CPU, commands, calls
over 10 ms).

The producer and the sampler run at a higher priority (nice -10, when the
benchmark may): on one machine the fleet's own start-up takes every core,
and a starved producer would show its own pauses as gaps.  Real producers
run elsewhere.
"""

from __future__ import annotations

import collections
import json
import os
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
PROCS_EVERY = 5  # worker processes are counted every 5th sample (a walk of /proc)
TAIL = 1.0  # the HUP window runs this long past the moment it settled
NICE = -10


@dataclass
class Storm:
    gaps_ms: dict[str, float] = field(default_factory=dict)  # by window (steady, HUP one ...)
    waits_ms: dict[str, float] = field(default_factory=dict)  # longest enqueue-to-start
    fewest: dict[str, int] = field(default_factory=dict)  # worker processes, per window
    fewest_registered: dict[str, int] = field(default_factory=dict)
    fewest_waiting: dict[str, int] = field(default_factory=dict)  # in their idle wait
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
            "longest_wait_ms": {k: round(v, 1) for k, v in self.waits_ms.items()},
            "fewest_worker_processes": self.fewest,
            "fewest_registered": self.fewest_registered,
            "fewest_waiting": self.fewest_waiting,
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
        self.samples: list[tuple[float, int, int]] = []  # (time, registered, waiting)
        self.procs: list[tuple[float, int]] = []  # (time, worker processes)
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
        raise_priority()
        pipe = redis.Redis.from_url(self.fleet.url, client_name="bench").pipeline(False)
        queue = f"resque:queue:{self.fleet.queue}"
        next_at = time.monotonic()
        while not self.halt.is_set():
            next_at += 1 / self.rate
            pause = next_at - time.monotonic()
            if pause > 0 and self.halt.wait(pause):
                break
            pipe.rpush(queue, json.dumps({"class": "Trace", "args": [self.sent, time.time()]}))
            pipe.execute()
            self.sent += 1

    def _sample(self) -> None:
        raise_priority()
        pipe = redis.Redis.from_url(self.fleet.url, client_name="bench").pipeline(False)
        n = 0
        while not self.halt.wait(SAMPLE):
            pipe.scard("resque:workers")
            pipe.info("clients")
            registered, clients = pipe.execute()
            self.samples.append((time.time(), int(registered), int(clients["blocked_clients"])))
            n += 1
            if n % PROCS_EVERY == 0:
                self.procs.append((time.time(), len(self.fleet.worker_pids())))

    def fewest(self, begin: float, end: float) -> tuple[int, int, int]:
        """Fewest worker processes, registered workers and workers waiting for a job."""
        inside = [(r, w) for t, r, w in self.samples if begin <= t <= end]
        procs = [p for t, p in self.procs if begin <= t <= end]
        return (
            min(procs, default=0),
            min((r for r, _ in inside), default=0),
            min((w for _, w in inside), default=0),
        )


def raise_priority() -> None:
    """This thread at nice -10 (Linux nice values are per thread), if the benchmark may."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)
    except OSError:
        pass


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
    records = [text(x).split() for x in client.lrange("bench:starts", 0, -1)]
    starts = sorted(float(r[1]) for r in records)
    for name, begin, end in windows:
        out.gaps_ms[name] = longest_gap(starts, begin, end) * 1000
        waits = [float(r[1]) - float(r[2]) for r in records if begin <= float(r[2]) <= end]
        out.waits_ms[name] = max(waits, default=0.0) * 1000
        fewest = load.fewest(begin, end)
        out.fewest[name], out.fewest_registered[name], out.fewest_waiting[name] = fewest
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
