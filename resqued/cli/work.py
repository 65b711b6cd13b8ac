"""``resqued work``: one Resque worker in the foreground, no master, no listener."""

from __future__ import annotations

import argparse
import logging
import os

from resqued.cli.common import (
    add_hostname_arg,
    add_log_args,
    add_redis_args,
    apply_hostname,
    parser,
    redis_url,
    setup_logging,
    store,
)
from resqued.config import limits
from resqued.config.values import count, seconds, switch
from resqued.errors import ResquedError


def work_parser() -> argparse.ArgumentParser:
    p = parser("work", "Run one Resque worker in the foreground (no master, no listener).")
    p.epilog = (
        "As Resque's rake tasks: $COUNT or $WORKER_COUNT runs that many workers under a "
        "master (USR1/USR2/CONT to it reach every worker), $BACKGROUND=1 daemonizes, "
        "$PIDFILE holds the pid (see docs/migrating/actionverb-resque.md)."
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
        help="longest idle wait between queue checks (default: $INTERVAL or 5); 0 is --burst, "
        "as Resque's INTERVAL=0",
    )
    p.add_argument(
        "--burst",
        action="store_true",
        help="exit once the queues are empty (RQ's --burst; Resque's INTERVAL=0)",
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
        help="perform jobs in the worker process ($FORK_PER_JOB=false; the default with "
        "$JOBS_PER_FORK, as in Action Verb's fork)",
    )
    p.add_argument(
        "--jobs-per-fork",
        metavar="N",
        help="exit after N jobs (default: $JOBS_PER_FORK, which also runs jobs in process, "
        "or 0 = never)",
    )
    p.add_argument(
        "--threads",
        metavar="N",
        help="job threads in this process, jobs run in process (default: $THREAD_COUNT or 1)",
    )
    limits.add_flags(p, limits.WORK_FLAGS)  # --job-timeout, --job-soft-timeout
    add_hostname_arg(p)
    add_log_args(p, short_quiet=False)  # -q is --queue here, as in Resque
    return p


def main(argv: list[str]) -> int:
    from resqued.app import require_all
    from resqued.cli.work_pool import (
        WorkPool,
        background,
        claim_pidfile,
        count_from_env,
        detach,
        run_burst,
        run_pool,
    )
    from resqued.config.model import Config
    from resqued.resque.connection import RedisUnreachable
    from resqued.resque.queues import QueueList
    from resqued.resque.server import check_server
    from resqued.worker.build import build_worker, options_for

    args = work_parser().parse_args(argv)
    if any(os.environ.get(name) for name in ("VERBOSE", "VVERBOSE", "LOGGING")):
        args.verbose = True  # Resque's rake task: a line per job
    for given in args.queue:  # '' would mean every queue ('*'): never what was typed
        if not all(name.strip() for name in given.split(",")):
            where = f" in {given!r}" if given.strip() else ""
            raise ResquedError(f"-q/--queue: an empty queue name{where}")
    level = setup_logging(args)
    apply_hostname(args)
    queues = args.queue or [os.environ.get("QUEUES") or os.environ.get("QUEUE") or "*"]
    names = QueueList.parse([n for q in queues for n in q.split(",")])
    fork = args.fork
    if fork is None:  # Action Verb's JOBS_PER_FORK: jobs run in the worker process
        in_process = bool(os.environ.get("JOBS_PER_FORK")) and not args.jobs_per_fork
        fork = switch(os.environ.get("FORK_PER_JOB"), not in_process, "FORK_PER_JOB")
    threads = count(args.threads or os.environ.get("THREAD_COUNT") or "1", "threads")
    if threads < 1:
        raise ResquedError("--threads (or $THREAD_COUNT) must be at least 1")
    interval = seconds(args.interval or os.environ.get("INTERVAL") or "5", "interval")
    burst = args.burst or interval == 0
    config = Config(
        fork_per_job=fork,
        interval=interval,
        jobs_per_fork=count(
            args.jobs_per_fork or os.environ.get("JOBS_PER_FORK") or "0", "jobs per fork"
        ),
        threads=threads,
        term_child=switch(os.environ.get("TERM_CHILD"), False, "TERM_CHILD"),
        term_timeout=seconds(os.environ.get("RESQUE_TERM_TIMEOUT") or "4", "RESQUE_TERM_TIMEOUT"),
        **limits.flag_values(args, limits.WORK_FLAGS),
    )
    limits.check(config)
    workers = count_from_env()
    if workers is not None and not burst:  # COUNT / WORKER_COUNT: a master runs them
        queue_list = [n.strip() for q in queues for n in q.split(",") if n.strip()]
        pool = WorkPool(workers, queue_list, config, args.require, redis_url(args), args.namespace)
        pool.level, pool.argv = level, list(argv)
        return run_pool(pool)
    st = store(args, probe=False)
    try:
        st.probe()  # a wrong password fails now; an outage is waited out by the worker
        check_server(st.redis)  # below Redis 6.2: one line, exit 1
    except RedisUnreachable as exc:
        logging.getLogger("resqued").warning("%s; the worker will keep trying", exc)
    require_all(args.require)
    if background():  # Resque's BACKGROUND: detach, then (PIDFILE) record the worker's pid
        detach(st)
    path = claim_pidfile()
    options = options_for(config, prune=True)
    options.burst = burst

    def work_once() -> int:
        return build_worker(st, names, options, config.threads).work()

    try:
        if workers is not None:  # COUNT and burst: n workers side by side, as rake resque:workers
            return run_burst(workers, st, work_once)
        return work_once()
    finally:
        if path:
            from resqued.master import pidfile

            pidfile.remove(path)
