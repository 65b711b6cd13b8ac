"""Command line: ``resqued [options]`` runs a master; subcommands do the rest."""

from __future__ import annotations

import argparse
import logging
import os
import sys

import redis

from resqued import logs, proctitle
from resqued.config.values import count, seconds
from resqued.errors import ResquedError
from resqued.resque.connection import redact


def add_redis_args(p: argparse.ArgumentParser) -> None:
    """``--redis URL`` and ``--namespace NS``, the same for every command."""
    p.add_argument("--redis", metavar="URL", help="Redis URL (default: $REDIS_URL or localhost)")
    p.add_argument(
        "--namespace",
        metavar="NS",
        default=os.environ.get("RESQUE_NAMESPACE"),
        help="Redis key namespace (default: $RESQUE_NAMESPACE or resque)",
    )


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like every other error
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def work_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="resqued work",
        description="Run one Resque worker in the foreground (no master, no listener).",
    )
    p.add_argument(
        "-q",
        "--queue",
        action="append",
        default=[],
        metavar="NAME",
        help="queue to work, in priority order; patterns (mail_*) and !exclusions "
        "allowed; a comma list works too (default: $QUEUES, $QUEUE, or *)",
    )
    p.add_argument(
        "-r",
        "--require",
        action="append",
        default=[],
        metavar="LIB",
        help="import this module or .py file; its job classes may be named by path",
    )
    add_redis_args(p)
    p.add_argument(
        "-i",
        "--interval",
        metavar="SECONDS",
        help="longest idle wait between queue checks (default: $INTERVAL or 5)",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--fork",
        dest="fork",
        action="store_true",
        default=None,
        help="fork a child per job (Resque's default)",
    )
    mode.add_argument(
        "--no-fork",
        dest="fork",
        action="store_false",
        help="perform jobs in the worker process ($FORK_PER_JOB=false)",
    )
    p.add_argument(
        "--jobs-per-fork",
        metavar="N",
        help="exit after N jobs (default: $JOBS_PER_FORK or 0 = never)",
    )
    p.add_argument(
        "--threads",
        metavar="N",
        help="job threads in this process, jobs run in process (default: $THREAD_COUNT or 1)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


def run_work(argv: list[str]) -> int:
    from resqued.app import require_all
    from resqued.config.model import Config
    from resqued.resque.queues import QueueList
    from resqued.resque.store import Store
    from resqued.worker.build import build_worker, options_for
    from resqued.worker.options import switch

    args = work_parser().parse_args(argv)
    logs.setup(logging.DEBUG if args.verbose else logging.INFO)
    queues = args.queue or [os.environ.get("QUEUES") or os.environ.get("QUEUE") or "*"]
    names = [n for q in queues for n in q.split(",")]
    fork = args.fork
    if fork is None:
        fork = switch(os.environ.get("FORK_PER_JOB"), True, "FORK_PER_JOB")
    config = Config(
        fork_per_job=fork,
        interval=seconds(args.interval or os.environ.get("INTERVAL") or "5", "interval"),
        jobs_per_fork=count(
            args.jobs_per_fork or os.environ.get("JOBS_PER_FORK") or "0", "jobs per fork"
        ),
        threads=count(args.threads or os.environ.get("THREAD_COUNT") or "1", "threads"),
        term_child=switch(os.environ.get("TERM_CHILD"), False, "TERM_CHILD"),
        term_timeout=seconds(os.environ.get("RESQUE_TERM_TIMEOUT") or "4", "RESQUE_TERM_TIMEOUT"),
    )
    store = Store.connect(args.redis, args.namespace or "resque")
    require_all(args.require)
    worker = build_worker(
        store, QueueList.parse(names), options_for(config, prune=True), config.threads
    )
    return worker.work()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Replace the command line in ps at once: it may hold a Redis password.
    if argv and argv[0] == "work":
        proctitle.worker("Starting")
    else:
        proctitle.set_title(f"{proctitle.MANAGER_PREFIX} starting")
    try:
        if argv and argv[0] == "work":
            return run_work(argv[1:])
        from resqued.control import COMMANDS

        if argv and argv[0] in COMMANDS:
            return COMMANDS[argv[0]](argv[1:])
        from resqued.master_cli import run_master

        return run_master(argv)
    except ResquedError as exc:
        print(f"resqued: {exc}", file=sys.stderr)
        return 1
    except redis.RedisError as exc:
        print(f"resqued: redis: {redact(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `resqued status | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
