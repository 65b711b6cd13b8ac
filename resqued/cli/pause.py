"""``resqued pause`` and ``resqued resume``: the Redis pause flags, global or per master."""

from __future__ import annotations

import argparse

from resqued import pidfile
from resqued.cli.common import add_redis_args, parser, store
from resqued.errors import ResquedError
from resqued.resque import registry


def _master_id(args: argparse.Namespace) -> str | None:
    if args.pidfile:
        pid = pidfile.read(args.pidfile)
        if not pid:
            raise ResquedError(f"pidfile {args.pidfile} names no pid")
        return f"{registry.hostname()}:{pid}"
    return args.master


def _pause_parser(verb: str) -> argparse.ArgumentParser:
    p = parser(
        verb,
        f"{verb.capitalize()} taking new jobs: every worker on the Redis server "
        "(--all, Resque's pause-all-workers), or one master's workers (-p PIDFILE). "
        "Running jobs finish; the setting survives HUP and USR2.",
    )
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--all", action="store_true", help="every Resque worker (Ruby too)")
    target.add_argument("-p", "--pidfile", help="the workers of the master in this pidfile")
    target.add_argument("--master", metavar="HOST:PID", help="the workers of this master")
    add_redis_args(p)
    return p


def pause(argv: list[str]) -> int:
    args = _pause_parser("pause").parse_args(argv)
    st = store(args)
    key = st.keys.pause if args.all else st.keys.master_pause(_master_id(args) or "")
    st.redis.set(key, "true")
    print(f"resqued: paused ({'all workers' if args.all else key})")
    return 0


def resume(argv: list[str]) -> int:
    args = _pause_parser("resume").parse_args(argv)
    st = store(args)
    key = st.keys.pause if args.all else st.keys.master_pause(_master_id(args) or "")
    st.redis.delete(key)
    print(f"resqued: resumed ({'all workers' if args.all else key})")
    return 0
