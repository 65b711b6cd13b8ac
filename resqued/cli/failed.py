"""``resqued failed list|show|retry|remove|clear``: the ``failed`` list, as resque-web does it.

A failed job is named by its index in the list (0 is the oldest), the id
resque-web shows.  The Redis side is ``resqued.resque.failed``; this module
parses flags, asks before changing many records, and prints.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Mapping

from resqued.cli.common import Parser, add_redis_args, confirm, parser, store
from resqued.fleet.failed_text import job_dict, row, show
from resqued.fleet.fmt import printable
from resqued.resque.failed import FailedList, FailureFilter

FORMAT = 1  # of the --json documents; fields are only ever added


def _count(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number >= 0")
    return int(value)


def _index(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a failed job's number (0 is the oldest; see resqued failed list)"
        )
    return int(value)


def _filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--queue", metavar="Q", help="only jobs that failed on queue Q")
    p.add_argument("--class", dest="class_name", metavar="C", help="only jobs of class C")
    p.add_argument("--exception", metavar="E", help="only jobs that raised E (e.g. RuntimeError)")
    retried = p.add_mutually_exclusive_group()
    retried.add_argument(
        "--retried", dest="retried", action="store_const", const=True, help="only retried jobs"
    )
    retried.add_argument(
        "--not-retried",
        dest="retried",
        action="store_const",
        const=False,
        help="only jobs never retried",
    )


def _one(p: argparse.ArgumentParser, verb: str) -> None:
    p.add_argument("number", nargs="?", type=_index, metavar="N", help=f"{verb} job N only")
    p.add_argument(
        "--digest",
        metavar="HEX",
        help="with N: only if job N is still the record with this digest (from --json)",
    )


ACTIONS = {
    "list": ("failed jobs, newest first", "Failed jobs, newest first, filtered and paginated."),
    "show": (
        "one failed job in full",
        "One failed job: payload, exception, error, backtrace, worker, times.",
    ),
    "retry": (
        "enqueue failed jobs again",
        "Push failed jobs to their queue again and mark them retried (the record stays in "
        "the list, as in resque-web): job N, every job matching a filter, or --all.",
    ),
    "remove": (
        "take failed jobs out of the list",
        "Take failed jobs out of the list: job N (the jobs after it move down by one) or "
        "every job matching a filter.",
    ),
    "clear": ("delete the failed list", "Delete every failed job (resque-web's Clear)."),
    "index": (
        "bring the filter index up to date",
        "Index the failed list for --queue, --class and --exception now (the first filtered "
        "command does it otherwise; it is kept beside the list in Redis and follows it).",
    ),
}


def _parser() -> tuple[argparse.ArgumentParser, Mapping[str, argparse.ArgumentParser]]:
    p = parser(
        "failed",
        "List, show, retry and remove failed jobs as resque-web does: a job is named by its "
        "number in the failed list (0 is the oldest). Retrying or removing more than one "
        "job, and clear, ask first on a terminal and need --yes otherwise.",
    )
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=Parser)
    for name, (short, long) in ACTIONS.items():
        each = sub.add_parser(name, help=short, description=long)
        if name == "show":
            each.add_argument("number", type=_index, metavar="N")
        if name in ("retry", "remove"):
            _one(each, name)
        if name in ("list", "retry", "remove"):
            _filters(each)
        if name == "list":
            each.add_argument(
                "--start",
                type=_count,
                default=0,
                metavar="OFFSET",
                help="start at this offset in the matches, newest first (0, the default: the "
                "newest; 20: the second page of 20); not a job id (see --before)",
            )
            each.add_argument(
                "--count", type=_count, default=20, metavar="N", help="show N (default 20)"
            )
            each.add_argument(
                "--before",
                type=_index,
                metavar="N",
                help="only jobs older than job N (where a page without a total goes on)",
            )
        if name == "retry":
            each.add_argument("--all", action="store_true", help="every failed job")
        if name in ("list", "show"):
            each.add_argument("--json", action="store_true", help="print JSON")
        if name in ("retry", "remove", "clear"):
            each.add_argument(
                "-y",
                "--yes",
                action="store_true",
                help="do not ask (needed when stdin is not a terminal)",
            )
        add_redis_args(each)
    return p, sub.choices


def main(argv: list[str]) -> int:
    p, actions = _parser()
    args = p.parse_args(argv)
    where = _where(args)
    if args.action in ("retry", "remove"):
        _check_target(actions[args.action], args, where)
    failed = FailedList(store(args))
    if args.action == "list":
        return _list(failed, where, args)
    if args.action == "show":
        job = failed.get(args.number)
        print(json.dumps(job_dict(job), indent=2, ensure_ascii=False) if args.json else show(job))
        return 0
    if args.action == "clear":
        return _clear(failed, args.yes)
    if args.action == "index":
        return _index_now(failed)
    if args.number is not None:
        if args.action == "retry":
            job = failed.retry(args.number, args.digest)
            print(f"resqued: retried failed job #{job.index} ({job.class_name}) on {job.queue}")
        else:
            job = failed.remove(args.number, args.digest)
            print(f"resqued: removed failed job #{job.index} ({job.class_name or '?'})")
        return 0
    return _many(failed, args.action, where, args.yes)


def _where(args: argparse.Namespace) -> FailureFilter:
    return FailureFilter(
        queue=getattr(args, "queue", None),
        class_name=getattr(args, "class_name", None),
        exception=getattr(args, "exception", None),
        retried=getattr(args, "retried", None),
    )


def _check_target(
    p: argparse.ArgumentParser, args: argparse.Namespace, where: FailureFilter
) -> None:
    chosen = (args.number is not None) + (not where.empty) + getattr(args, "all", False)
    if chosen != 1:
        filters = "a filter (--queue, --class, --exception, --retried, --not-retried)"
        if args.action == "retry":
            p.error(f"give one of: a job number N, {filters}, --all")
        p.error(f"give one of: a job number N, {filters}")
    if args.digest and args.number is None:
        p.error("--digest goes with a job number N")


def describe(where: FailureFilter) -> str:
    """``queue=mail class=Archive``; empty for no filter."""
    parts = [("queue", where.queue), ("class", where.class_name), ("exception", where.exception)]
    out = [f"{k}={v}" for k, v in parts if v is not None]
    if where.retried is not None:
        out.append("retried" if where.retried else "not retried")
    return " ".join(out)


def _many(failed: FailedList, action: str, where: FailureFilter, yes: bool) -> int:
    matched = failed.matching(where)
    what = describe(where) or "all"
    if not matched:
        print(f"resqued: no failed job matches ({what}); nothing to {action}")
        return 0
    confirm(f"{action} {_jobs(matched)} ({what})", yes)
    if action == "retry":
        done = failed.retry_matching(where)
        left = matched - done
        skipped = (
            f"; {left} left alone (no queue or class, or changed meanwhile)" if left > 0 else ""
        )
        print(f"resqued: retried {_jobs(done)} ({what}){skipped}")
    else:
        done = failed.remove_matching(where)
        print(f"resqued: removed {_jobs(done)} ({what})")
    return 0


def _clear(failed: FailedList, yes: bool) -> int:
    total = failed.count()
    if not total:
        print("resqued: the failed list is empty")
        return 0
    confirm(f"delete all {_jobs(total)}", yes)
    print(f"resqued: cleared the failed list ({_jobs(failed.clear())})")
    return 0


def _index_now(failed: FailedList) -> int:
    def progress(done: int, of: int) -> None:
        if sys.stderr.isatty():
            sys.stderr.write(f"\rresqued: indexed {done} of {of} failed jobs")

    layout = failed.index.sync(progress=progress)
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    print(
        f"resqued: the failed list index covers {_jobs(layout.len)} in {len(layout.blocks)} blocks"
    )
    return 0


def _jobs(n: int) -> str:
    return f"{n} failed job{'' if n == 1 else 's'}"


def _list(failed: FailedList, where: FailureFilter, args: argparse.Namespace) -> int:
    page = failed.list(where, args.start, args.count, args.before)
    if args.json:
        doc = {
            "format": FORMAT,
            "total": page.total,
            "start": page.start,
            "count": page.count,
            "exact": page.exact,
            "more": page.more,
            "jobs": [job_dict(job) for job in page.jobs],
        }
        print(json.dumps(doc, indent=2, ensure_ascii=False))
        return 0
    what = f" matching {describe(where)}" if not where.empty else ""
    older = f" older than #{args.before}" if args.before is not None else ""
    if not page.jobs:
        print(f"no failed jobs{what}{older}" + (f" from #{args.start} on" if page.total else ""))
        return 0
    last = page.start + len(page.jobs)
    if page.exact:
        print(f"failed jobs{what}{older}: {page.start + 1}-{last} of {page.total}, newest first")
    else:
        print(f"failed jobs{what}{older}: {len(page.jobs)} shown, newest first")
    width = max(len(str(j.index)) for j in page.jobs)
    for job in page.jobs:
        print(row(job, width))
    again = " ".join(shlex.quote(a) for a in _flags(where))
    again = f" {again}" if again else ""
    if not page.exact and page.more is not None:
        print(printable(f"more: resqued failed list{again} --before {page.more}"))
    elif page.exact and last < page.total:
        before = f" --before {args.before}" if args.before is not None else ""
        print(printable(f"more: resqued failed list{again}{before} --start {last}"))
    return 0


def _flags(where: FailureFilter) -> list[str]:
    """The command-line flags that give ``where``."""
    out = []
    for flag, value in (
        ("--queue", where.queue),
        ("--class", where.class_name),
        ("--exception", where.exception),
    ):
        if value is not None:
            out += [flag, value]
    if where.retried is not None:
        out.append("--retried" if where.retried else "--not-retried")
    return out
