"""``python -m bench --quick|--full``: every row, ours and the peer's, in one run.

Prints a Markdown table (medians, min-max over interleaved rounds) on stdout,
progress on stderr, and writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench import deploy_gap, drains, latency, manager, report, scale_out, scheduler, threads
from bench._common import ROOT, BenchError, redis_server
from bench.peers import rq_version, write_jobs
from bench.settings import FULL, QUICK, Context
from bench.stats import Row

ROWS = ["1", "2", "3", "4", "5", "6", "7", "8", "9"]
Group = Callable[[Context, set[str], Callable[[str], None]], list[Row]]
GROUPS: list[tuple[set[str], str, Group]] = [
    ({"1", "2", "3"}, "drains, the fork limit and Redis cost per job", drains.run),
    ({"4"}, "enqueue-to-start latency", lambda c, _r, log: latency.run(c, log)),
    (
        {"5"},
        "preloaded vs cold workers: start time and memory",
        lambda c, _r, log: manager.run(c, log),
    ),
    ({"6"}, "deploy gap through HUP and USR2", lambda c, _r, log: deploy_gap.run(c, log)),
    ({"7"}, "threads mode", lambda c, _r, log: threads.run(c, log)),
    ({"8"}, "scale-out over masters", lambda c, _r, log: scale_out.run(c, log)),
    (
        {"9"},
        "delayed jobs: mover lag, Redis CPU, a burst",
        lambda c, _r, log: scheduler.run(c, log),
    ),
]


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", dest="full", action="store_false", help="about a minute (default)")
    mode.add_argument("--full", dest="full", action="store_true", help="up to about 20 minutes")
    p.add_argument("--only", metavar="ROWS", help="comma list of rows to run, 1-9 (default: all)")
    p.add_argument(
        "--json", metavar="FILE", type=Path, help="default: bench/results/last-MODE.json"
    )
    args = p.parse_args(argv)
    rows = set((args.only or ",".join(ROWS)).split(","))
    if not rows <= set(ROWS):
        p.error(f"--only: rows are 1-9, got {args.only}")
    args.rows = rows
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    settings = FULL if args.full else QUICK
    out = args.json or ROOT / "bench" / "results" / f"last-{settings.mode}.json"
    began, date = time.monotonic(), datetime.now(UTC)

    def log(message: str) -> None:
        print(f"  [{time.monotonic() - began:6.1f}s] {message}", file=sys.stderr, flush=True)

    rows: list[Row] = []
    failures: dict[str, str] = {}
    with redis_server() as (client, url, tmp):
        machine, versions = report.machine(), report.versions(client)
        print(f"# resqued benchmarks, {settings.mode} mode", flush=True)
        print(f"\n{report.describe(machine, versions)}", flush=True)
        print(f"\n{settings.describe()}\n", flush=True)
        write_jobs(tmp)
        ctx = Context(client, url, tmp, settings, rq=rq_version() is not None)
        if not ctx.rq:
            log("rq is not installed (pip install -e '.[bench]'): peer columns stay empty")
        for wanted, name, run in GROUPS:
            if not wanted & args.rows:
                continue
            log(f"rows {', '.join(sorted(wanted & args.rows))}: {name}")
            try:
                rows += run(ctx, wanted & args.rows, log)
            except (BenchError, OSError, ValueError, RuntimeError) as exc:
                for row in sorted(wanted & args.rows):
                    failures[row] = f"{type(exc).__name__}: {exc}"
                log(f"not measured: {exc}")
        machine["load_average_end"] = list(os.getloadavg())
    print(report.table(rows))
    for row, why in failures.items():
        print(f"\nrow {row} not measured: {why}")
    doc = report.document(
        date,
        settings.mode,
        settings.describe(),
        machine,
        versions,
        rows,
        failures,
        time.monotonic() - began,
    )
    report.write(out, doc)
    print(f"\nfigures: {out} ({time.monotonic() - began:.0f} s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
