"""``resqued failed list|show|retry|remove|clear``: the ``failed`` list, as resque-web does it.

A failed job is named by its index in the list (0 is the oldest), the id
resque-web shows.  The Redis side is ``resqued.resque.failed``; this module
parses flags, asks before changing many records, and prints.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import Any

from resqued.cli.common import Parser, add_redis_args, confirm, parser, store
from resqued.fleet.fmt import printable
from resqued.fleet.parse import parse_time
from resqued.resque.failed import FailedJob, FailedList, FailureFilter

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
                "--start", type=_count, default=0, metavar="N", help="skip the newest N matches"
            )
            each.add_argument(
                "--count", type=_count, default=20, metavar="N", help="show N (default 20)"
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
    matched = sum(1 for job in failed.scan() if where.matches(job))
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


def _jobs(n: int) -> str:
    return f"{n} failed job{'' if n == 1 else 's'}"


def _list(failed: FailedList, where: FailureFilter, args: argparse.Namespace) -> int:
    page = failed.list(where, args.start, args.count)
    if args.json:
        doc = {
            "format": FORMAT,
            "total": page.total,
            "start": page.start,
            "count": page.count,
            "jobs": [job_dict(job) for job in page.jobs],
        }
        print(json.dumps(doc, indent=2, ensure_ascii=False))
        return 0
    what = f" matching {describe(where)}" if not where.empty else ""
    if not page.jobs:
        print(f"no failed jobs{what}" + (f" from #{args.start} on" if page.total else ""))
        return 0
    last = page.start + len(page.jobs)
    print(f"failed jobs{what}: {page.start + 1}-{last} of {page.total}, newest first")
    iw = max(len(str(j.index)) for j in page.jobs)
    for job in page.jobs:
        if job.record is None:
            print(printable(f"  #{job.index:<{iw}}  (not a JSON record) {_first(_raw(job), 60)}"))
            continue
        retried = f"  (retried {job.retried_at})" if job.retried_at else ""
        print(
            printable(
                f"  #{job.index:<{iw}}  {job.failed_at or '?'}  {job.queue or '?'}  "
                f"{job.class_name or '?'}  {job.exception or '?'}: {_first(job.error)}{retried}"
            )
        )
    if last < page.total:
        print(f"more: resqued failed list --start {last}")
    return 0


def _first(text: str, limit: int = 100) -> str:
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _raw(job: FailedJob) -> str:
    return job.raw.decode("utf-8", "replace")


def show(job: FailedJob) -> str:
    """One failed job in full, as text (control characters escaped, one line each)."""
    out = [f"failed job #{job.index}"]
    if job.record is None:
        out += ["  not a JSON record; as stored:", "  " + _raw(job)]
        return "\n".join(printable(line) for line in out)
    rows = [
        ("failed at", job.failed_at),
        ("queue", job.queue),
        ("class", job.class_name),
        ("args", json.dumps(job.args, ensure_ascii=False)),
        ("exception", job.exception),
        ("error", job.error),
        ("worker", job.worker),
        ("retried at", job.retried_at or "never"),
        ("payload", json.dumps(job.payload, ensure_ascii=False)),
    ]
    out += [f"  {name:<10}  {value}" for name, value in rows]
    out.append("  backtrace" if job.backtrace else "  backtrace   (none)")
    out += [f"    {line}" for line in job.backtrace]
    return "\n".join(printable(line) for line in out)


def job_dict(job: FailedJob) -> dict[str, Any]:
    """The JSON form of one failed job (``failed list --json``, ``failed show --json``)."""
    readable = job.record is not None
    return {
        "index": job.index,
        "digest": job.digest,
        "failed_at": parse_time(job.failed_at),
        "failed_at_text": job.failed_at,
        "queue": job.queue,
        "class": job.class_name,
        "args": job.args,
        "exception": job.exception,
        "error": job.error,
        "backtrace": job.backtrace,
        "worker": job.worker,
        "retried_at": parse_time(job.retried_at),
        "retried_at_text": job.retried_at,
        "payload": job.payload,
        "raw": None if readable else _raw(job),
    }
