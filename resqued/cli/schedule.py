"""``resqued schedule``: recurring schedules with their last and next run, the delayed queue
by second, and an operator's hand on them (remove a delayed job, queue one now, run a
schedule now), as resque-web's Schedule and Delayed tabs offer."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from resqued.cli.common import add_redis_args, confirm, parser, store
from resqued.errors import ResquedError
from resqued.fleet.fmt import printable, utc
from resqued.fleet.scheduler import read_mover, summary
from resqued.resque.delayed_admin import DelayedAdmin, digest
from resqued.resque.store import Store
from resqued.scheduler import overview

FORMAT = 1  # of the --json documents; fields are only ever added
WORDS = ("list", "delayed", "show", "enqueue", "remove", "run")
USAGE = """
  resqued schedule [list]            schedules (last and next run) and the mover's lock
  resqued schedule delayed           delayed jobs by second, with counts
  resqued schedule show EPOCH        the jobs due at one second, numbered
  resqued schedule enqueue EPOCH [N] queue the second's jobs (or job #N) now
  resqued schedule remove EPOCH N    remove delayed job #N of that second
  resqued schedule run NAME          queue schedule NAME's job now"""


def _parser(word: str, what: str) -> argparse.ArgumentParser:
    p = parser(f"schedule {word}", what)
    add_redis_args(p)
    return p


def _json_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON")


def _schedule_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--schedule",
        metavar="FILE",
        default=os.environ.get("RESQUED_SCHEDULE") or None,
        help="the mover's schedule YAML (default: $RESQUED_SCHEDULE; else only the dynamic "
        "schedules and past runs)",
    )
    p.add_argument(
        "-E",
        "--env",
        default=os.environ.get("RAILS_ENV") or os.environ.get("RACK_ENV") or None,
        help="the environment rails_env/env entries are matched against "
        "(default: $RAILS_ENV, else $RACK_ENV)",
    )


def _epoch(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"{value!r} is not a time in epoch seconds")
    return int(value)


def _index(value: str) -> int:
    if not value.lstrip("#").isdigit():
        raise argparse.ArgumentTypeError(f"{value!r} is not a job number (from schedule show)")
    return int(value.lstrip("#"))


def main(argv: list[str]) -> int:
    word = argv[0] if argv and not argv[0].startswith("-") else "list"
    rest = argv[1:] if argv and not argv[0].startswith("-") else argv
    if word not in WORDS:
        raise ResquedError(f"schedule: unknown word {word!r} ({', '.join(WORDS)}; see --help)")
    if word == "list":
        return list_schedules(rest)
    if word == "delayed":
        return delayed(rest)
    if word == "show":
        return show(rest)
    if word == "run":
        return run(rest)
    return change(word, rest)


def list_schedules(argv: list[str]) -> int:
    p = _parser(
        "list",
        "Recurring schedules (the --schedule file's and the dynamic ones) with their last "
        "and next run, and who holds resque-scheduler's lock." + USAGE,
    )
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    _json_arg(p)
    _schedule_args(p)
    args = p.parse_args(argv)
    st = store(args)
    now = st.server_time()
    rows = overview.rows(st, args.schedule, args.env, now)
    mover = read_mover(st, now)
    if args.json:
        doc = {
            "format": FORMAT,
            "taken_at": now,
            "lock_holder": mover.holder,
            "schedules": [row.to_dict() for row in rows],
        }
        print(json.dumps(doc, indent=2, ensure_ascii=False))
        return 0
    print(printable(summary(mover)))
    print(f"schedules ({len(rows)})")
    for row in rows:
        e = row.entry
        when = f"{e.kind} {e.trigger.text}" if e else "(not in the file or the dynamic ones)"
        job = f"{e.class_name} on {e.queue}" if e else ""
        print(printable(f"  {row.name}  {when}  {job}"))
        last = row.last_run or "never"
        nxt = utc(row.next_at) if row.next_at is not None else "?"
        print(printable(f"      last {last}; next {nxt}"))
    return 0


def delayed(argv: list[str]) -> int:
    p = _parser("delayed", "The delayed queue by second, earliest first, with its counts.")
    _json_arg(p)
    p.add_argument("--start", type=int, default=0, help="skip this many seconds")
    p.add_argument("--limit", type=int, default=50, help="seconds shown (default 50)")
    args = p.parse_args(argv)
    st = store(args)
    seconds, total = DelayedAdmin(st).seconds(max(0, args.start), max(1, min(args.limit, 1000)))
    if args.json:
        doc = {
            "format": FORMAT,
            "timestamps": total,
            "seconds": [{"epoch": s.epoch, "jobs": s.jobs} for s in seconds],
        }
        print(json.dumps(doc, indent=2))
        return 0
    print(f"delayed: {total} timestamp{'' if total == 1 else 's'}")
    for s in seconds:
        print(f"  {s.epoch}  {utc(s.epoch)}  {s.jobs:>6} job{'' if s.jobs == 1 else 's'}")
    if args.start + len(seconds) < total:
        print(f"  ... {total - args.start - len(seconds)} more (--start, --limit)")
    return 0


def show(argv: list[str]) -> int:
    p = _parser("show", "The jobs due at one second, numbered for enqueue and remove.")
    p.add_argument("epoch", type=_epoch, metavar="EPOCH")
    _json_arg(p)
    p.add_argument("--limit", type=int, default=100, help="jobs shown (default 100)")
    args = p.parse_args(argv)
    st = store(args)
    jobs = DelayedAdmin(st).delayed.jobs_at(args.epoch, 0, max(1, args.limit))
    if args.json:
        docs: list[dict[str, Any]] = []
        for i, raw in enumerate(jobs):
            docs.append({"index": i, "digest": digest(raw), "entry": _decoded(raw)})
        print(json.dumps({"format": FORMAT, "epoch": args.epoch, "jobs": docs}, indent=2))
        return 0
    print(f"delayed at {args.epoch} ({utc(args.epoch)}): {len(jobs)} shown")
    for i, raw in enumerate(jobs):
        print(printable(f"  #{i}  {raw.decode('utf-8', 'replace')}"))
    return 0


def change(word: str, argv: list[str]) -> int:
    doing = "queue now" if word == "enqueue" else "remove"
    p = _parser(
        word,
        f"{doing.capitalize()} the delayed job #N of a second (enqueue: all of "
        "the second's jobs when N is left out). Asks first on a terminal.",
    )
    p.add_argument("epoch", type=_epoch, metavar="EPOCH")
    p.add_argument("index", type=_index, metavar="N", nargs="?" if word == "enqueue" else None)
    p.add_argument("-y", "--yes", action="store_true", help="do not ask")
    args = p.parse_args(argv)
    st = store(args)
    admin = DelayedAdmin(st)
    if args.index is None:
        n = len(admin.delayed.jobs_at(args.epoch, 0, 1_000_000))
        if not n:
            raise ResquedError(f"no delayed jobs at {args.epoch} (see resqued schedule delayed)")
        confirm(f"queue the {n} jobs due at {args.epoch} now", args.yes)
        moved = admin.enqueue_second_now(args.epoch)
        print(f"resqued: queued {moved} job{'' if moved == 1 else 's'} due at {args.epoch}")
        return 0
    raw = admin.entry(args.epoch, args.index)
    confirm(f"{doing} {raw.decode('utf-8', 'replace')} due at {args.epoch}", args.yes)
    if word == "enqueue":
        n = admin.enqueue_now(args.epoch, args.index, digest(raw))
        print(f"resqued: queued {n} job{'' if n == 1 else 's'} now")
    else:
        n = admin.remove(args.epoch, args.index, digest(raw))
        print(f"resqued: removed {n} delayed job{'' if n == 1 else 's'}")
    return 0


def run(argv: list[str]) -> int:
    p = _parser("run", "Queue a schedule's job now (its next run stays as it was).")
    p.add_argument("name", metavar="NAME")
    _schedule_args(p)
    args = p.parse_args(argv)
    st: Store = store(args)
    entry = overview.run_now(st, args.schedule, args.env, args.name)
    print(printable(f"resqued: queued {entry.class_name} on {entry.queue} ({args.name})"))
    return 0


def _decoded(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")
