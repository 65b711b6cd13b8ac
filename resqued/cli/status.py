"""``resqued status``: masters by host, their listener and workers, queues, recent failures.

One snapshot of the fleet read model (``resqued.fleet``) as text or as the
documented JSON form; ``--watch`` takes a snapshot every few seconds, redrawn in
place on a terminal and printed one after another otherwise.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time

import redis

from resqued.cli.common import add_redis_args, parser, store
from resqued.errors import ResquedError
from resqued.fleet import read_fleet, render_text, to_json
from resqued.fleet.model import Fleet
from resqued.fleet.rates import RateSampler, Sample
from resqued.process.redact import redact
from resqued.resque.store import Store

DEFAULT_WATCH = 2.0  # seconds between snapshots of --watch without a value
HOME, CLEAR, EOL, EOS = "\x1b[H", "\x1b[2J", "\x1b[K", "\x1b[J"


def seconds(value: str) -> float:
    try:
        s = float(value)
    except ValueError:
        s = 0.0
    if not 0.1 <= s <= 86400:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds from 0.1 to 86400")
    return s


def count(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number >= 0")
    return int(value)


def _parser() -> argparse.ArgumentParser:
    p = parser(
        "status",
        "Show the fleet as Redis sees it: resqued masters grouped by host with their "
        "listener and workers (pid, queues, state, current job, processed and failed), "
        "workers of Ruby Resque and pyres on the same Redis, queue depths and the newest "
        "failures.",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print the snapshot as JSON (stable field names, see docs/operations.md)",
    )
    p.add_argument(
        "--watch",
        nargs="?",
        type=seconds,
        const=DEFAULT_WATCH,
        metavar="SECONDS",
        help=f"take a snapshot every SECONDS (default {DEFAULT_WATCH:g}) until Ctrl-C: "
        "redrawn in place on a terminal, printed one after another otherwise (with --json: "
        "one JSON object per line)",
    )
    p.add_argument(
        "--failures",
        type=count,
        default=10,
        metavar="N",
        help="how many of the newest failures to show (default 10; 0: none)",
    )
    add_redis_args(p)
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    st = store(args)  # one line and exit 1 if Redis cannot be reached or refuses us
    if args.watch is None:
        fleet = read_fleet(st, args.failures)
        sys.stdout.write(to_json(fleet) + "\n" if args.json else render_text(fleet))
        return 0
    try:
        watch(st, args.watch, args.failures, args.json)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how --watch ends
    return 0


def watch(st: Store, interval: float, failures: int, as_json: bool) -> None:
    """Snapshots every ``interval`` seconds until interrupted; Redis errors are shown and
    retried, so a watch survives a Redis restart."""
    screen = sys.stdout.isatty() and not as_json
    rates = RateSampler(window=interval * 3)
    if screen:
        sys.stdout.write(CLEAR)
    while True:
        try:
            fleet = read_fleet(st, failures)
        except (redis.RedisError, ResquedError) as exc:
            error = f"resqued: redis: {redact(' '.join(str(exc).split()))} (retrying)"
            if screen:
                sys.stdout.write(_screen(error + "\n"))
            else:
                print(error, file=sys.stderr, flush=True)
        else:
            if as_json:
                sys.stdout.write(to_json(fleet, indent=None) + "\n")
            elif screen:
                sys.stdout.write(_screen(_headline(fleet, rates, interval) + render_text(fleet)))
            else:
                sys.stdout.write(render_text(fleet) + "\n")
        sys.stdout.flush()
        time.sleep(interval)


def _headline(fleet: Fleet, rates: RateSampler, interval: float) -> str:
    """``every 2s (Ctrl-C ends): 12.5 jobs/s processed, 0.5/s failed``."""
    rates.add(Sample(fleet.taken_at, fleet.stats.processed, fleet.stats.failed))
    recent = rates.rates()
    speed = (
        f"{recent[-1].processed:.1f} jobs/s processed, {recent[-1].failed:.1f}/s failed"
        if recent
        else "jobs/s from the next snapshot"
    )
    return f"every {interval:g}s (Ctrl-C ends): {speed}\n"


def _screen(text: str) -> str:
    """``text`` drawn from the top left of the terminal over the previous snapshot, cut to
    the terminal's size so that nothing scrolls."""
    size = shutil.get_terminal_size()
    lines = text.rstrip("\n").split("\n")
    room = max(2, size.lines - 1)  # the cursor rests on the line below
    if len(lines) > room:
        hidden = len(lines) - room + 1
        lines = lines[: room - 1] + [f"... {hidden} more lines (a taller terminal shows them)"]
    width = max(1, size.columns - 1)
    return HOME + "".join(line[:width] + EOL + "\n" for line in lines) + EOS
