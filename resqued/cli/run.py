"""``resqued [options]``: the master command. Parse its flags, load the config, run or --test."""

from __future__ import annotations

import argparse
import os
from typing import Any

from resqued.cli.common import (
    Parser,
    add_hostname_arg,
    add_log_args,
    add_redis_args,
    apply_hostname,
    redis_url,
    setup_logging,
)
from resqued.config import limits
from resqued.config.model import Overrides
from resqued.config.values import cli_queue, count, seconds, switch
from resqued.master import replace_file, upgrade
from resqued.master.start import Launch, launch
from resqued.process import workdir
from resqued.version import __version__

USAGE = (
    "resqued [-D] [-r <lib>] [-n <count>] [--queue <name>[=<num>[%%]]]... [--redis <url>]\n"
    "               [-c <config>]... [-p <pidfile>] [-l <logfile>] [-v] [-q] [--test [--strict]]\n"
    "               [--redis-url-file <file>] [--log-format text|json] [CONFIG]...\n"
    "       resqued work|quit-and-wait|pause|resume|status ... (see resqued <command> --help)"
)


def master_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="resqued",
        usage=USAGE,
        description="Start the resque process manager: a master, a listener that loads the "
        "application once, and forked workers.",
        epilog="Queues added first are processed fully before later ones: backlog on the first "
        "queue means workers do not visit the second. Signals: see docs/signals.md.",
    )
    p.add_argument(
        "config_files",
        nargs="*",
        metavar="CONFIG",
        help="config files (Python DSL, or resque-pool YAML ending in .yml)",
    )
    p.add_argument(
        "-c",
        "--config",
        action="append",
        default=[],
        metavar="FILE",
        help="a config file (repeatable)",
    )
    p.add_argument(
        "-n",
        "--workers",
        metavar="COUNT",
        help="number of pool worker processes (default: $WORKER_COUNT, Action Verb's, which "
        "also takes $QUEUES and $INTERVAL)",
    )
    p.add_argument(
        "--queue",
        action="append",
        default=[],
        metavar="NAME[=NUM[%]]",
        help="work queue with a fixed number (10) or a share (10%%) of workers",
    )
    p.add_argument(
        "-r",
        "--require",
        action="append",
        default=[],
        metavar="LIB",
        help="import this module or .py file in the listener (preload)",
    )
    add_redis_args(p)
    p.add_argument(
        "-E",
        "--environment",
        metavar="ENV",
        help="the environment: the section of a resque-pool YAML file, and what a "
        "config_loader is called with (default: the first set of $RACK_ENV, $RAILS_ENV, "
        "$RESQUE_ENV)",
    )
    p.add_argument("-p", "--pidfile", metavar="FILE", help="write the master's pid here")
    p.add_argument("-l", "--logfile", metavar="FILE", help="log here instead of stderr")
    p.add_argument("-D", "--daemonize", action="store_true", help="run in the background")
    p.add_argument(
        "--no-fork",
        dest="fork_per_job",
        action="store_false",
        default=None,
        help="workers perform jobs in process instead of forking per job",
    )
    p.add_argument(
        "--jobs-per-fork",
        metavar="N",
        help="replace a worker after N jobs (default: $JOBS_PER_FORK, with which jobs run in "
        "the worker process, as in Action Verb's fork)",
    )
    p.add_argument(
        "--threads",
        metavar="N",
        help="job threads per worker process (jobs run in process; default 1)",
    )
    p.add_argument("--interval", metavar="SECONDS", help="longest idle wait between queue checks")
    limits.add_flags(p)  # --job-timeout, --memory-limit, --max-age, ... (docs/guard-rails.md)
    p.add_argument(
        "--shutdown-timeout",
        metavar="SECONDS",
        help="after TERM, KILL what is left after this long (default 30)",
    )
    p.add_argument(
        "--hot-swap",
        action="store_true",
        help="start beside the master named by -p and take it over (QUIT) once our workers run",
    )
    p.add_argument(
        "--metrics",
        metavar="ADDR:PORT",
        help="serve Prometheus metrics there (the metrics extra; off by default)",
    )
    p.add_argument(
        "--chdir",
        metavar="DIR",
        help="work in DIR, followed afresh (symlinks included) by every new listener "
        "(default: $PWD when it names the current directory)",
    )
    p.add_argument(
        "--boot-timeout",
        metavar="SECONDS",
        help="give up on a config check, a USR2 preflight or a new listener that is not "
        "ready after this long (default: boot_timeout in the config, 300; the config "
        "check and the preflight: 60)",
    )
    p.add_argument(
        "--scheduler",
        action="store_true",
        help="also run the scheduler: delayed jobs and recurring schedules (docs/scheduling.md)",
    )
    p.add_argument(
        "--schedule",
        metavar="FILE",
        help="resque-scheduler's schedule YAML for the scheduler (implies --scheduler)",
    )
    p.add_argument(
        "--test",
        action="store_true",
        help="print the worker table, check the config, import the app and ask Redis, and "
        "exit (0; 1 when something cannot work; a Redis that does not answer is reported, "
        "not an error, unless --strict)",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="with --test: Redis must answer too (exit 1 when it does not)",
    )
    p.add_argument(
        "--fast-exit",
        action="store_true",
        help="on QUIT, INT or TERM, signal the workers and exit without waiting for them "
        "(Ruby resqued's --fast-exit)",
    )
    p.add_argument(
        "--relay-signals",
        action="store_true",
        help="pass USR1, USR2 and CONT on to every worker (kill the current jobs, pause, "
        "resume), as resque-pool, resque_starter, Resque::Forker and Action Verb masters do; "
        "USR1 then reopens no log and USR2 re-execs nothing (the config's relay_signals(...) "
        "does the same, for some of them)",
    )
    p.add_argument(
        "--replace",
        metavar="FILE",
        help="(internal, Ruby resqued's) start as the new image of a master whose state is in FILE",
    )
    add_hostname_arg(p)
    add_log_args(p)
    p.add_argument("--version", action="version", version=f"resqued {__version__}")
    return p


def overrides_from(args: argparse.Namespace, cwd: str) -> Overrides:
    def here(path: str) -> str:  # relative to the operator's directory, symlinks kept
        return os.path.normpath(os.path.join(cwd, path))

    values: dict[str, Any] = action_verb_env(args)
    if args.workers is not None:
        values["worker_processes"] = count(args.workers, "-n/--workers")
    compat: dict[str, Any] = {}
    if args.fast_exit:  # Ruby resqued: QUIT/INT/TERM reach the workers; the master exits
        compat["stop"] = {"QUIT": "quit-exit", "INT": "term-exit", "TERM": "term-exit"}
    if args.relay_signals:  # the other tools' masters: USR1/USR2/CONT reach the workers
        compat["relay_signals"] = ["USR1", "USR2", "CONT"]
    if compat:
        values["compat"] = compat
    if args.queue:
        values["queue_rules"] = [cli_queue(q) for q in args.queue]
    if args.require:
        values["requires"] = list(args.require)
    url = redis_url(args)
    if url:
        from resqued.resque.connection import validate

        values["redis_url"] = validate(url)
    if args.namespace:
        values["namespace"] = args.namespace
    if args.pidfile:
        values["pidfile"] = here(args.pidfile)
    if args.logfile:
        values["stdout_path"] = values["stderr_path"] = here(args.logfile)
    if args.fork_per_job is not None:
        values["fork_per_job"] = args.fork_per_job
    if args.jobs_per_fork is not None:
        values["jobs_per_fork"] = count(args.jobs_per_fork, "--jobs-per-fork")
    if args.threads is not None:
        values["threads"] = count(args.threads, "--threads", minimum=1)
    if args.interval is not None:
        values["interval"] = seconds(args.interval, "--interval")
    if args.shutdown_timeout is not None:
        values["shutdown_timeout"] = seconds(args.shutdown_timeout, "--shutdown-timeout")
    if args.metrics:
        values["metrics"] = args.metrics
    values.update(limits.flag_values(args))
    if args.scheduler or args.schedule:
        values["scheduler"] = {"schedule_file": here(args.schedule)} if args.schedule else {}
    if switch(os.environ.get("TERM_CHILD"), False, "TERM_CHILD"):
        values["term_child"] = True
    if os.environ.get("RESQUE_TERM_TIMEOUT"):
        values["term_timeout"] = seconds(os.environ["RESQUE_TERM_TIMEOUT"], "RESQUE_TERM_TIMEOUT")
    files = [here(f) for f in [*args.config_files, *args.config]]
    return Overrides(values, files, args.environment)


def action_verb_env(args: argparse.Namespace) -> dict[str, Any]:
    """Action Verb's fork's variables, where no flag says otherwise: ``WORKER_COUNT`` (-n)
    with its ``QUEUES``/``QUEUE`` (--queue) and ``INTERVAL`` (--interval), ``THREAD_COUNT``
    (--threads), and ``JOBS_PER_FORK`` (--jobs-per-fork), which also runs jobs in the
    worker process, as Action Verb does (the flag keeps resqued's fork per job)."""
    env = os.environ
    values: dict[str, Any] = {}
    if args.workers is None and env.get("WORKER_COUNT"):
        values["worker_processes"] = count(env["WORKER_COUNT"], "WORKER_COUNT")
        queues = env.get("QUEUES") or env.get("QUEUE") or ""
        if not args.queue and queues.strip():
            values["queue_rules"] = [cli_queue(q.strip()) for q in queues.split(",") if q.strip()]
        if args.interval is None and env.get("INTERVAL"):
            values["interval"] = seconds(env["INTERVAL"], "INTERVAL")
    if args.threads is None and env.get("THREAD_COUNT"):
        values["threads"] = count(env["THREAD_COUNT"], "THREAD_COUNT", minimum=1)
    if args.jobs_per_fork is None and env.get("JOBS_PER_FORK"):
        values["jobs_per_fork"] = count(env["JOBS_PER_FORK"], "JOBS_PER_FORK")
        if args.fork_per_job is None:
            values["fork_per_job"] = False
    return values


def run_master(argv: list[str]) -> int:
    p = master_parser()
    args = p.parse_args(argv)
    if args.strict and not args.test:
        p.error("--strict goes with --test")
    level = setup_logging(args)
    apply_hostname(args)
    cwd = workdir.logical_cwd(args.chdir)
    overrides = overrides_from(args, cwd)
    deadline = None
    if args.boot_timeout:
        deadline = seconds(args.boot_timeout, "--boot-timeout", minimum=1)
    state = None
    if not args.test:
        if args.chdir:
            os.chdir(cwd)
        state = replace_file.read(args.replace) if args.replace else upgrade.inherited_state()
    start = Launch(
        overrides,
        cwd,
        level,
        argv,
        daemonize=args.daemonize,
        test=args.test,
        strict=args.strict,
        state=state,
        hot_swap=args.hot_swap,
        boot_timeout=deadline,
    )
    return launch(start)
