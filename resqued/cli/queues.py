"""``resqued queues [--json]`` and ``resqued queues clear NAME``: queues as resque-web
shows and removes them."""

from __future__ import annotations

import argparse
import json

from resqued.cli.common import add_redis_args, confirm, parser, store
from resqued.errors import ResquedError
from resqued.fleet.fmt import printable
from resqued.resque.queue_admin import depths, remove_queue

FORMAT = 1  # of the --json document; fields are only ever added


def _list_parser() -> argparse.ArgumentParser:
    p = parser(
        "queues",
        "List the queues of the Redis server (its 'queues' set) with the number of jobs "
        "waiting on each. 'resqued queues clear NAME' removes a queue and its jobs.",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    add_redis_args(p)
    return p


def _clear_parser() -> argparse.ArgumentParser:
    p = parser(
        "queues clear",
        "Remove a queue and every job waiting on it, as Resque.remove_queue does. Workers "
        "that name it keep working; it comes back with the next job pushed to it. Asks "
        "first on a terminal; needs --yes otherwise.",
    )
    p.add_argument("name", metavar="NAME", help="the queue")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask")
    add_redis_args(p)
    return p


def main(argv: list[str]) -> int:
    if argv[:1] == ["clear"]:
        return clear(argv[1:])
    args = _list_parser().parse_args(argv[1:] if argv[:1] == ["list"] else argv)
    queues = depths(store(args))
    pending = sum(q.depth for q in queues)
    if args.json:
        doc = {
            "format": FORMAT,
            "pending": pending,
            "queues": [{"name": q.name, "depth": q.depth} for q in queues],
        }
        print(json.dumps(doc, indent=2, ensure_ascii=False))
        return 0
    print(f"queues ({len(queues)}), {_jobs(pending)} pending")
    # Widths of the names as printed: an escaped control character takes four columns.
    names = [printable(q.name) for q in queues]
    width = max((len(n) for n in names), default=0)
    for name, q in zip(names, queues, strict=True):
        print(f"  {name:<{width}}  {q.depth:>7}")
    return 0


def clear(argv: list[str]) -> int:
    args = _clear_parser().parse_args(argv)
    st = store(args)
    name: str = args.name
    pipe = st.redis.pipeline(transaction=False)
    pipe.sismember(st.keys.queues, name)
    pipe.llen(st.keys.queue(name))
    known, depth = pipe.execute()
    if not known and not depth:
        raise ResquedError(f"no queue named {name!r} (see resqued queues)")
    confirm(f"remove queue {name!r} and the {_jobs(depth)} on it", args.yes)
    dropped = remove_queue(st, name)
    print(f"resqued: removed queue {name!r} ({_jobs(dropped)} dropped)")
    return 0


def _jobs(n: int) -> str:
    return f"{n} job{'' if n == 1 else 's'}"
