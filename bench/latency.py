"""Row 4: enqueue-to-start latency on idle workers, ours vs RQ, interleaved.

The producer notes the time just before its enqueue call (``resqued.enqueue_to``
or RQ's ``Queue.enqueue``); the job's first statement pushes ``time.time()``
to a list the producer waits on. After each start the producer waits
``GAP`` so the workers are back in their idle wait before the next job.
"""

from __future__ import annotations

import time
from typing import Any

from bench._common import text
from bench.measure import ready
from bench.peers import RQ, Ours, Pool
from bench.settings import Context
from bench.stats import Row, percentile

GAP = 0.02


def samples(ctx: Context, pool: Pool, n: int) -> list[float]:
    """``n`` enqueue-to-start latencies in milliseconds."""
    ready(ctx.client, pool)
    try:
        pool.connect_producer()
        out = []
        for i in range(n):
            enqueued = time.time()
            pool.enqueue_one("stamp", i)
            reply = ctx.client.blpop(["bench:starts"], 10)
            if reply is None:
                raise TimeoutError(f"job {i} did not start within 10 s")
            index, started = text(reply[1]).split()
            if int(index) != i:
                raise RuntimeError(f"job {index} started, expected {i}")
            out.append((float(started) - enqueued) * 1000)
            time.sleep(GAP)  # benchmark pacing: let the worker return to its idle wait
    finally:
        pool.stop()
    return out


def run(ctx: Context, log: Any) -> list[Row]:
    s = ctx.settings
    c, url, d, w = ctx.client, ctx.url, ctx.app_dir, s.workers
    modes = [False, True] if s.latency_fork else [False]
    rows: list[Row] = []
    for fork in modes:
        p50: dict[str, list[float]] = {"ours": [], "rq": []}
        p99: dict[str, list[float]] = {"ours": [], "rq": []}
        for r in range(s.rounds):
            pools: list[tuple[str, Pool]] = [("ours", Ours(c, url, d, w, fork=fork))]
            if ctx.rq:
                pools.append(("rq", RQ(c, url, d, w, fork=fork)))
            for side, pool in pools:
                lat = samples(ctx, pool, s.latency_jobs)
                p50[side].append(percentile(lat, 50))
                p99[side].append(percentile(lat, 99))
                what = "fork per job" if fork else "in process"
                log(f"round {r + 1}: {side} {what} p50 {p50[side][-1]:.2f} ms")
        mode = "fork per job" if fork else "in process"
        peer = "RQ worker-pool, " + ("Worker (fork per job)" if fork else "SimpleWorker")
        for pct, figures in (("p50", p50), ("p99", p99)):
            rows.append(
                Row(
                    "4",
                    f"enqueue-to-start {pct}, idle workers, {mode}, {w} workers (ms; "
                    f"{s.latency_jobs} jobs a round)",
                    "ms",
                    "lower",
                    figures["ours"],
                    peer,
                    figures["rq"],
                    note="" if ctx.rq else "RQ not installed: peer not measured",
                )
            )
    return rows
