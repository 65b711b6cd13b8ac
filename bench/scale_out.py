"""Row 8: 1, 2 and 4 masters on one Redis, as separate hosts would run them.

Each master is ``resqued -n 2 --no-fork`` with its own pidfile; all work the
same queue of no-op jobs. Per drain: jobs/s and Redis CPU per job; the jobs/s
one Redis core could serve is projected as 1 s / (Redis CPU per job), and
ours / projected is the share of that core the masters used. On one 2-core
machine the masters share the cores, so jobs/s does not grow with masters
here; Redis's cost per job is the figure that carries to real hosts.
"""

from __future__ import annotations

from typing import Any

from bench.measure import Drain, drain
from bench.peers import Ours
from bench.settings import Context
from bench.stats import Row

TARGET_US = 30.0


def run(ctx: Context, log: Any) -> list[Row]:
    s = ctx.settings
    c, url, d = ctx.client, ctx.url, ctx.app_dir
    runs: dict[int, list[Drain]] = {m: [] for m in s.masters}
    for r in range(s.scale_rounds):
        for m in s.masters:
            runs[m].append(drain(c, Ours(c, url, d, workers=2, masters=m), "noop", s.scale_jobs))
            log(f"round {r + 1}: {m} masters {runs[m][-1].rate:,.0f} jobs/s")
    rows = []
    for m in s.masters:
        what = f"{m} master{'s' if m > 1 else ''} x `resqued -n 2 --no-fork` on one Redis"
        rows += [
            Row(
                "8",
                f"{what}: jobs/s",
                "jobs/s",
                "higher",
                [x.rate for x in runs[m]],
                "projected jobs/s of one Redis core (1 s / Redis CPU per job)",
                [1e6 / x.cpu_us_per_job for x in runs[m]],
                note="ratio: share of one Redis core used",
                extra={"drains": [x.to_json() for x in runs[m]]},
            ),
            Row(
                "8",
                f"{what}: Redis CPU per job (us)",
                "us",
                "lower",
                [x.cpu_us_per_job for x in runs[m]],
                f"target {TARGET_US:g} us",
                [TARGET_US],
            ),
        ]
    return rows
