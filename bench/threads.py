"""Row 7: threads mode with 10 ms sleeping jobs, 1 to 16 threads in one worker process.

Ours: ``resqued -n 1 --threads T`` (one process, T job threads). RQ 3.0 has no
thread mode; its nearest equivalent is a pool of T non-forking processes
(``rq worker-pool -n T -w SimpleWorker``), which is what the peer column runs.
The ideal is T x 100 jobs/s.
"""

from __future__ import annotations

import statistics
from typing import Any

from bench.measure import drain
from bench.peers import RQ, Ours
from bench.settings import Context
from bench.stats import Row

PEER = "RQ has no thread mode: worker-pool of T SimpleWorker processes"


def run(ctx: Context, log: Any) -> list[Row]:
    s = ctx.settings
    c, url, d = ctx.client, ctx.url, ctx.app_dir
    ours: dict[int, list[float]] = {t: [] for t in s.thread_counts}
    theirs: dict[int, list[float]] = {t: [] for t in s.thread_counts}
    for r in range(s.thread_rounds):
        for t in s.thread_counts:
            n = max(50, int(t * 100 * s.thread_seconds))
            ours[t].append(drain(c, Ours(c, url, d, workers=1, threads=t), "nap", n).rate)
            if ctx.rq:
                theirs[t].append(drain(c, RQ(c, url, d, workers=t), "nap", n).rate)
            log(f"round {r + 1}: {t} threads {ours[t][-1]:,.0f} jobs/s")
    return [
        Row(
            "7",
            f"threads mode, 10 ms sleeping jobs, 1 process x {t} threads (jobs/s)",
            "jobs/s",
            "higher",
            ours[t],
            PEER.replace("T", str(t)),
            theirs[t],
            note=f"ideal {t * 100:,} jobs/s; ours at "
            f"{statistics.median(ours[t]) / (t * 100):.0%} of it"
            + ("" if ctx.rq else "; RQ not installed: peer not measured"),
        )
        for t in s.thread_counts
    ]
