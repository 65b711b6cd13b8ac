"""Row 6: the longest gap with no job started, under steady load, through HUP and USR2.

One master (``resqued -n W``) works a steady flow of 5 ms jobs, each of which
records the time it started. Each round is three phases of equal length:
steady, then HUP (reload: new listener, workers handed over one by one),
then USR2 (re-exec of the master, same pid, workers kept). The figure of a
phase is the longest interval in it with no job started; the steady phase
is the reference. Worker processes (children of the master's listeners
with a ``resque-`` title) are counted every ``SAMPLE`` seconds for the peak.
Workers run jobs in process (``--no-fork``), so that the load stays well under
what they can take even on a busy machine: the gap measured is the signal's,
not a backlog's. The note gives the queue's length when the load stopped (0
when the workers kept up).
"""

from __future__ import annotations

import json
import signal
import threading
import time
from typing import Any

import redis

from bench._common import BenchError, children, spawn, stop, text, title, wait_until
from bench.peers import QUEUE
from bench.settings import Context
from bench.stats import Row

SAMPLE = 0.05


def worker_pids(master: int) -> list[int]:
    listeners = [p for p in children(master) if " listener #" in title(p)]
    return [w for lst in listeners for w in children(lst) if title(w).startswith("resque-")]


def whereabouts(client: redis.Redis, sent: int) -> str:
    """Where the jobs that never started are: queued, in a hand-over list, running, failed."""
    started = {int(text(x).split()[0]) for x in client.lrange("bench:starts", 0, -1)}
    missing = sorted(set(range(sent)) - started)
    inflight = [text(k) for k in client.keys("resque:resqued:inflight:*")]
    held = sum(int(client.llen(k)) for k in inflight)
    running = len(client.keys("resque:worker:*:started"))
    return (
        f"{len(missing)} of {sent:,} never started (first ids {missing[:5]}); "
        f"queued {client.llen(f'resque:queue:{QUEUE}')}, in {len(inflight)} hand-over lists "
        f"{held}, workers registered {client.scard('resque:workers')} ({running} marked "
        f"running), failed {client.llen('resque:failed')}"
    )


def longest_gap(starts: list[float], begin: float, end: float) -> float:
    """Longest interval in [begin, end] with no start (the window's edges count as starts)."""
    window = [begin, *(t for t in starts if begin <= t <= end), end]
    return max(b - a for a, b in zip(window, window[1:], strict=False))


def run(ctx: Context, log: Any) -> list[Row]:
    s = ctx.settings
    d, url, w, phase = ctx.app_dir, ctx.url, s.deploy_workers, s.deploy_phase
    ctx.client.flushall()
    pidfile = d / "deploy.pid"
    args = ["-n", str(w), "--queue", QUEUE, "-r", "bench_jobs", "-p", str(pidfile), "--no-fork"]
    master = spawn([*args, "--interval", "1", "--redis", url], d, url)
    samples: list[tuple[float, int]] = []
    events: list[tuple[str, float, float]] = []  # (phase, begin, end), wall clock
    halt = threading.Event()
    sent = [0]

    def produce() -> None:
        pipe = redis.Redis.from_url(url).pipeline(transaction=False)
        while not halt.wait(1 / s.deploy_rate):
            pipe.sadd("resque:queues", QUEUE)
            pipe.rpush(f"resque:queue:{QUEUE}", json.dumps({"class": "Tick", "args": [sent[0]]}))
            pipe.execute()
            sent[0] += 1

    def sample() -> None:
        while not halt.wait(SAMPLE):
            samples.append((time.time(), len(worker_pids(master.pid))))

    threads = [threading.Thread(target=produce), threading.Thread(target=sample)]
    kept = []
    try:
        wait_until(lambda: len(worker_pids(master.pid)) == w, 60, f"{w} workers")
        for t in threads:
            t.start()
        for r in range(s.deploy_rounds):
            begin = time.time()
            time.sleep(phase)  # benchmark phase: steady load
            events.append(("steady", begin, time.time()))
            for name, sig in (("HUP", signal.SIGHUP), ("USR2", signal.SIGUSR2)):
                before = sorted(worker_pids(master.pid))
                at = time.time()
                master.send_signal(sig)
                time.sleep(phase)  # benchmark phase: load through the signal
                events.append((name, at, time.time()))
                if name == "USR2":
                    kept.append(sorted(worker_pids(master.pid)) == before)
            log(f"round {r + 1}: HUP and USR2 done")
        halt.set()
        for t in threads:
            t.join()
        backlog = int(ctx.client.llen(f"resque:queue:{QUEUE}"))
        try:
            wait_until(lambda: ctx.client.llen("bench:starts") >= sent[0], 120, "all jobs started")
        except BenchError as exc:
            raise BenchError(f"{exc}: {whereabouts(ctx.client, sent[0])}") from None
        same_master = int(pidfile.read_text()) == master.pid
    finally:
        halt.set()
        stop([master])
    raw = [text(x).split() for x in ctx.client.lrange("bench:starts", 0, -1)]
    ids = sorted(int(i) for i, _ in raw)
    starts = sorted(float(t) for _, t in raw)
    gaps: dict[str, list[float]] = {"steady": [], "HUP": [], "USR2": []}
    peaks: dict[str, int] = {"steady": 0, "HUP": 0, "USR2": 0}
    for name, begin, end in events:
        gaps[name].append(longest_gap(starts, begin, end) * 1000)
        peak = max((n for t, n in samples if begin <= t <= end), default=0)
        peaks[name] = max(peaks[name], peak)
    once = ids == list(range(sent[0]))
    check = (
        f"{sent[0]:,} jobs, each started exactly once: {once}; queued when the load stopped: "
        f"{backlog}; master pid kept: {same_master}"
    )
    extra = {"peaks": peaks, "configured": w, "exactly_once": once, "jobs": sent[0]}
    extra["backlog_at_end"] = backlog
    load = f"{w} workers in process, {s.deploy_rate:g} jobs/s of 5 ms, {phase:g} s windows"
    return [
        Row(
            "6",
            f"longest gap with no job started during {name} ({load}; ms)",
            "ms",
            "lower",
            gaps[name],
            "same-length steady window before it",
            gaps["steady"],
            note=f"peak workers {peaks[name]} of {w}"
            + (f"; workers kept: {all(kept)}" if name == "USR2" else f"; {check}"),
            extra=extra if name == "HUP" else {},
        )
        for name in ("HUP", "USR2")
    ]
