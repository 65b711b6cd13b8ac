"""Operator subcommands: quit-and-wait, pause, resume, status."""

from __future__ import annotations

import argparse
import os
import select
import signal
import time

from resqued import pidfile
from resqued.errors import ResquedError
from resqued.proc import alive
from resqued.resque import registry
from resqued.resque.store import Store


def _parser(prog: str, description: str) -> argparse.ArgumentParser:
    from resqued.cli import _Parser

    return _Parser(prog=f"resqued {prog}", description=description)


def _redis_args(p: argparse.ArgumentParser) -> None:
    from resqued.cli import add_redis_args

    add_redis_args(p)


def _store(args: argparse.Namespace) -> Store:
    return Store.connect(args.redis, args.namespace or "resque")


def wait_for_exit(pid: int, timeout: float) -> bool:
    """Sleep (never spin) until ``pid`` is gone or ``timeout`` passes. True if it is gone."""
    deadline = time.monotonic() + timeout
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        fd = -1
    try:
        while alive(pid):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if fd >= 0:
                select.select([fd], [], [], left)  # readable when the process exits
            else:
                time.sleep(min(0.2, left))
        return True
    finally:
        if fd >= 0:
            os.close(fd)


def quit_and_wait(argv: list[str]) -> int:
    p = _parser(
        "quit-and-wait",
        "Send QUIT to the master named by PIDFILE and wait for it to "
        "exit (for container preStop hooks). Exit 0: gone; 1: still running at the end "
        "of the grace period.",
    )
    p.add_argument("pidfile")
    p.add_argument(
        "--grace-period",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long to wait (default 30)",
    )
    args = p.parse_args(argv)
    pid = pidfile.read(args.pidfile)
    if not pid or not alive(pid):
        print(f"resqued: no master running (pidfile {args.pidfile})")
        return 0
    os.kill(pid, signal.SIGQUIT)
    if wait_for_exit(pid, args.grace_period):
        print(f"resqued: master {pid} has exited")
        return 0
    print(f"resqued: master {pid} still running after {args.grace_period:g}s")
    return 1


def _master_id(args: argparse.Namespace) -> str | None:
    if args.pidfile:
        pid = pidfile.read(args.pidfile)
        if not pid:
            raise ResquedError(f"pidfile {args.pidfile} names no pid")
        return f"{registry.hostname()}:{pid}"
    return args.master


def _pause_parser(verb: str) -> argparse.ArgumentParser:
    p = _parser(
        verb,
        f"{verb.capitalize()} taking new jobs: every worker on the Redis server "
        "(--all, Resque's pause-all-workers), or one master's workers (-p PIDFILE). "
        "Running jobs finish; the setting survives HUP and USR2.",
    )
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--all", action="store_true", help="every Resque worker (Ruby too)")
    target.add_argument("-p", "--pidfile", help="the workers of the master in this pidfile")
    target.add_argument("--master", metavar="HOST:PID", help="the workers of this master")
    _redis_args(p)
    return p


def pause(argv: list[str]) -> int:
    args = _pause_parser("pause").parse_args(argv)
    store = _store(args)
    key = store.keys.pause if args.all else store.keys.master_pause(_master_id(args) or "")
    store.redis.set(key, "true")
    print(f"resqued: paused ({'all workers' if args.all else key})")
    return 0


def resume(argv: list[str]) -> int:
    args = _pause_parser("resume").parse_args(argv)
    store = _store(args)
    key = store.keys.pause if args.all else store.keys.master_pause(_master_id(args) or "")
    store.redis.delete(key)
    print(f"resqued: resumed ({'all workers' if args.all else key})")
    return 0


def status(argv: list[str]) -> int:
    p = _parser("status", "Show queues, workers, failures and pauses as Redis sees them.")
    _redis_args(p)
    args = p.parse_args(argv)
    store = _store(args)
    k = store.keys
    r = store.redis
    queues = store.queue_names()
    pipe = r.pipeline(transaction=False)
    for q in queues:
        pipe.llen(k.queue(q))
    sizes = pipe.execute()
    worker_ids = sorted(w.decode(errors="replace") for w in r.smembers(k.workers))
    pipe = r.pipeline(transaction=False)
    for w in worker_ids:
        pipe.get(k.worker(w))
    doing = pipe.execute()
    processed, failed = r.get(k.processed), r.get(k.failed_count)
    print(
        f"processed {int(processed or 0)}, failed {int(failed or 0)} "
        f"(failed list: {r.llen(k.failed)})"
    )
    print("paused: all workers" if store.paused() else "paused: no (globally)")
    for key in r.scan_iter(match=k.master_pause("*")):
        print(f"paused: master {key.decode()[len(k.master_pause('')) :]}")
    print(f"\nqueues ({len(queues)})")
    for q, n in zip(queues, sizes, strict=True):
        print(f"  {q:<30} {n}")
    print(f"\nworkers ({len(worker_ids)})")
    import json

    for w, job in zip(worker_ids, doing, strict=True):
        state = "waiting"
        if job:
            try:
                doc = json.loads(job)
                state = f"working {doc['payload'].get('class')} since {doc.get('run_at')}"
            except (ValueError, KeyError, AttributeError):
                state = "working (unreadable record)"
        print(f"  {w:<40} {state}")
    return 0


COMMANDS = {"quit-and-wait": quit_and_wait, "pause": pause, "resume": resume, "status": status}
