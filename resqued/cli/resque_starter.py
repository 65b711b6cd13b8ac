"""``resque-starter``: resque_starter's command line and signals, running resqued's master.

``resque-starter -c config`` takes resque_starter's config file: a Python file
with the same names (``concurrency 2`` becomes ``concurrency(2)``; hooks take
``(starter, worker, worker_nr)``), or the Ruby file itself, read as a literal
subset (``.rb``; see resqued/config/starter_rb.py).  Its signals: USR1 to the
master kills every current job, USR2 and CONT pause and resume every worker,
TTIN and TTOU add and remove one.  Without ``queues``, workers work ``$QUEUES``
or the queues of the application's job classes.  See
docs/migrating/resque_starter.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any


def parser() -> argparse.ArgumentParser:
    from resqued.cli.common import Parser
    from resqued.version import __version__

    p = Parser(
        prog="resque-starter",
        description="Start and manage resque workers with resque_starter's config file.",
        epilog="Extensions of resqued: -r/--require and --test. Signals: "
        "docs/migrating/resque_starter.md.",
    )
    p.add_argument("-c", "--config", metavar="file", help="path to config file (required)")
    p.add_argument(
        "-r",
        "--require",
        action="append",
        default=[],
        metavar="LIB",
        help="import this module or .py file in the listener (for a .rb config, the app)",
    )
    p.add_argument(
        "--test",
        action="store_true",
        help="print the worker table, check the config, import the app and ask Redis, and "
        "exit (a Redis that does not answer is reported, not an error, unless --strict)",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="with --test: Redis must answer too (exit 1 when it does not)",
    )
    p.add_argument("--version", action="version", version=f"resque-starter (resqued {__version__})")
    return p


def run(argv: list[str]) -> int:
    from resqued.cli.common import setup_logging
    from resqued.config.model import Overrides
    from resqued.config.values import seconds, switch
    from resqued.master.start import Launch, launch
    from resqued.process import workdir

    p = parser()
    args = p.parse_args(argv)
    if not args.config:  # as resque_starter: its usage on stdout, exit status 1
        p.print_help()
        print("resque-starter: option --config is required", file=sys.stderr)
        return 1
    if args.strict and not args.test:
        p.error("--strict goes with --test")
    level = setup_logging(argparse.Namespace(verbose=False, quiet=False, log_format=None))
    cwd = workdir.logical_cwd(None)
    compat: dict[str, Any] = {
        "relay_signals": ["USR1", "USR2", "CONT"],  # resque_starter sends these to every worker
        "queues_from_jobs": True,  # no queues in the config: $QUEUES, else the job classes'
        "verbose": any(os.environ.get(v) for v in ("VERBOSE", "LOGGING", "VVERBOSE")),
    }
    values: dict[str, Any] = {"compat": compat}
    if args.require:
        values["requires"] = list(args.require)
    if switch(
        os.environ.get("TERM_CHILD"), False, "TERM_CHILD"
    ):  # Resque's worker reads these, as here
        values["term_child"] = True
    if os.environ.get("RESQUE_TERM_TIMEOUT"):
        values["term_timeout"] = seconds(os.environ["RESQUE_TERM_TIMEOUT"], "RESQUE_TERM_TIMEOUT")
    config = os.path.normpath(os.path.join(cwd, args.config))
    overrides = Overrides(values, [config], None)
    return launch(
        Launch(overrides, cwd, level, ["resque-starter", *argv], test=args.test, strict=args.strict)
    )


def main(argv: list[str] | None = None) -> int:
    """The ``resque-starter`` console script."""
    from resqued.process import proctitle

    proctitle.set_title(f"{proctitle.MANAGER_PREFIX} master starting")
    from resqued.cli.common import guarded

    return guarded(run, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
