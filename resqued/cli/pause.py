"""``resqued pause`` and ``resqued resume``: the Redis pause flags, global or per master."""

from __future__ import annotations

import argparse

from resqued.cli.common import add_hostname_arg, add_redis_args, apply_hostname, parser, store
from resqued.errors import ResquedError
from resqued.master import pidfile
from resqued.resque import registry

DESCRIPTIONS = {
    "pause": "Stop taking new jobs: every worker on the Redis server (--all, Resque's "
    "pause-all-workers), or one master's workers (-p PIDFILE or --master HOST:PID). "
    "Running jobs finish; the setting survives HUP and USR2.",
    "resume": "Take new jobs again after 'resqued pause': every worker (--all) or one "
    "master's workers (-p PIDFILE or --master HOST:PID).",
}


def _parser(verb: str) -> argparse.ArgumentParser:
    p = parser(verb, DESCRIPTIONS[verb])
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--all", action="store_true", help="every Resque worker (Ruby too)")
    target.add_argument("-p", "--pidfile", help="the workers of the master in this pidfile")
    target.add_argument("--master", metavar="HOST:PID", help="the workers of this master")
    add_redis_args(p)
    add_hostname_arg(p)  # -p PIDFILE: the host its master registered under
    return p


def _master_id(args: argparse.Namespace, verb: str) -> str:
    """HOST:PID of the master named by --master, or by a checked -p pidfile."""
    if not args.pidfile:
        return str(args.master)
    found = pidfile.holder(args.pidfile)
    if found.state == "none":
        raise ResquedError(f"pidfile {args.pidfile} names no pid")
    if found.state in ("foreign", "gone"):  # a dead master's flag: --master HOST:PID
        raise ResquedError(f"{found.describe()}: no master to {verb}")
    return f"{registry.hostname()}:{found.pid}"


def _set(argv: list[str], verb: str) -> int:
    args = _parser(verb).parse_args(argv)
    apply_hostname(args)
    master = None if args.all else _master_id(args, verb)  # checked before Redis is asked
    st = store(args)
    key = st.keys.pause if master is None else st.keys.master_pause(master)
    if verb == "pause":
        st.redis.set(key, "true")
    else:
        st.redis.delete(key)
    print(f"resqued: {verb}d ({'all workers' if args.all else key})")
    return 0


def pause(argv: list[str]) -> int:
    return _set(argv, "pause")


def resume(argv: list[str]) -> int:
    return _set(argv, "resume")
