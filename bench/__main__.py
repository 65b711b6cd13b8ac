"""``python -m bench --quick|--full|--scale``: every row, ours and the peer's, in one run.

Prints a Markdown table (medians, min-max over interleaved rounds) on stdout,
progress on stderr, and writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from bench import (
    deploy_gap,
    drains,
    latency,
    manager,
    report,
    scale,
    scale_out,
    scheduler,
    threads,
)
from bench._common import ERRORS, ROOT, redis_server
from bench.peers import rq_version, write_jobs
from bench.settings import FULL, QUICK, SCALE, SCALE_QUICK, Context, ScaleSettings
from bench.stats import Row

ROWS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]
QUICK_ROWS = ROWS[:-1]  # the scale row runs in --full, --scale or --only 10
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
    ({"10"}, "scale: a fleet of masters on one Redis", lambda c, _r, log: scale.run(c, log)),
]
SIZE = re.compile(r"^(\d+)x(\d+)$")
COUNT = re.compile(r"^(\d+)([kKmM]?)$")


def _size(text: str) -> tuple[int, int]:
    found = SIZE.match(text)
    if not found or not all(0 < int(g) <= 1024 for g in found.groups()):
        raise argparse.ArgumentTypeError(f"{text!r} is not MASTERSxWORKERS (e.g. 32x32)")
    return int(found.group(1)), int(found.group(2))


def _counts(text: str) -> tuple[int, ...]:
    out = []
    for part in text.split(","):
        found = COUNT.match(part.strip())
        if not found or not int(found.group(1)):
            raise argparse.ArgumentTypeError(f"{text!r} is not a list of sizes (e.g. 10k,100k,1M)")
        out.append(int(found.group(1)) * {"": 1, "k": 1000, "m": 1_000_000}[found.group(2).lower()])
    return tuple(out)


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--quick", dest="full", action="store_false", default=None, help="about a minute (default)"
    )
    mode.add_argument("--full", dest="full", action="store_true", help="about 23 minutes")
    p.add_argument(
        "--scale",
        action="store_true",
        help="the scale row (10) only, at its full size unless --quick (about 7 minutes)",
    )
    p.add_argument(
        "--scale-size",
        metavar="MxN",
        type=_size,
        help="the scale row's fleet: M masters x N workers (default 32x32)",
    )
    p.add_argument(
        "--scale-failed",
        metavar="SIZES",
        type=_counts,
        help="the scale row's failed-list sizes (default 10k,100k,1M)",
    )
    p.add_argument(
        "--only",
        metavar="ROWS",
        help="comma list of rows to run, 1-10 (default: all; --quick leaves out 10)",
    )
    p.add_argument(
        "--json", metavar="FILE", type=Path, help="default: bench/results/last-MODE.json"
    )
    args = p.parse_args(argv)
    if args.scale and args.only:
        p.error("--scale runs row 10 only: leave out --only")
    if args.full is None:
        args.full = args.scale
    default = ROWS if args.full else QUICK_ROWS
    rows = {"10"} if args.scale else set((args.only or ",".join(default)).split(","))
    if not rows <= set(ROWS):
        p.error(f"--only: rows are 1-10, got {args.only}")
    args.rows = rows
    return args


def scale_settings(args: argparse.Namespace) -> ScaleSettings:
    out = SCALE if args.full else SCALE_QUICK
    if args.scale_size:
        out = replace(out, masters=args.scale_size[0], workers=args.scale_size[1])
    if args.scale_failed:
        out = replace(out, failed_sizes=args.scale_failed)
    return out


def _interrupted(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # stop what we started (the finally blocks), then exit


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    settings = FULL if args.full else QUICK
    signal.signal(signal.SIGTERM, _interrupted)
    name = f"scale-{settings.mode}" if args.scale else settings.mode
    out = args.json or ROOT / "bench" / "results" / f"last-{name}.json"
    began, date = time.monotonic(), datetime.now(UTC)

    def log(message: str) -> None:
        print(f"  [{time.monotonic() - began:6.1f}s] {message}", file=sys.stderr, flush=True)

    rows: list[Row] = []
    failures: dict[str, str] = {}
    with redis_server() as (client, url, tmp):
        machine, versions = report.machine(), report.versions(client)
        print(f"# resqued benchmarks, {settings.mode} mode", flush=True)
        print(f"\n{report.describe(machine, versions)}", flush=True)
        if args.rows - {"10"}:
            print(f"\n{settings.describe()}", flush=True)
        print("", flush=True)
        write_jobs(tmp)
        ctx = Context(client, url, tmp, settings, rq_version() is not None, scale_settings(args))
        if "10" in args.rows:
            print(f"{ctx.scale.describe()}\n", flush=True)
        if not ctx.rq:
            log("rq is not installed (pip install -e '.[bench]'): peer columns stay empty")
        for wanted, name, run in GROUPS:
            if not wanted & args.rows:
                continue
            log(f"rows {', '.join(sorted(wanted & args.rows))}: {name}")
            try:
                rows += run(ctx, wanted & args.rows, log)
            except ERRORS as exc:
                for row in sorted(wanted & args.rows):
                    failures[row] = f"{type(exc).__name__}: {exc}"
                log(f"not measured: {exc}")
        for part, why in ctx.partial.items():
            failures[f"10 ({part})"] = why
        machine["load_average_end"] = list(os.getloadavg())
    print(report.table(rows))
    for title, text in ctx.sections:
        print(f"\n## {title}\n\n{text}")
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


def run(argv: list[str] | None = None) -> int:
    """``main``, with an interrupt (Ctrl-C, SIGTERM) as one line once everything is stopped."""
    try:
        return main(argv)
    except KeyboardInterrupt:
        print("benchmark: interrupted; every process it started is stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(run())
