"""``resque-pool``: resque-pool's command line and signals, running resqued's master.

Every flag of resque-pool 0.7 is accepted with its meaning, defaults and
order rules (``-d`` then ``--no-pidfile`` drops the default pidfile, ``-H``
turns the pidfile off and the lock and kill-others on, ...).  The config is
resque-pool's YAML (``-c``, ``$RESQUE_POOL_CONFIG``, ``resque-pool.yml``,
``config/resque-pool.yml``), and a Python setup file (``$RESQUE_POOL_SETUP``,
``resque-pool.py``, ``config/resque-pool.py``) takes the place of the
``resque:pool:setup`` rake task: ``require(...)``, ``after_prefork``,
``after_spawn``, ``config_loader``.  See docs/migrating/resque-pool.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

CONFIG_FILES = ("resque-pool.yml", "config/resque-pool.yml")  # resque-pool's order
SETUP_FILES = ("resque-pool.py", "config/resque-pool.py")
DAEMON_STDOUT = "log/resque-pool.stdout.log"
DAEMON_STDERR = "log/resque-pool.stderr.log"
DAEMON_PIDFILE = "tmp/pids/resque-pool.pid"
HOT_SWAP_LOCK = "tmp/resque-pool.lock"
ENV_NAMES = ("RACK_ENV", "RAILS_ENV", "RESQUE_ENV")

BANNER = """resque-pool is the best way to manage a group (pool) of resque workers

When daemonized, stdout and stderr default to resque-pool.stdxxx.log files in
the log directory and pidfile defaults to resque-pool.pid in the current dir.

Usage:
   resque-pool [options]

where [options] are:"""


class _Flag(argparse.Action):
    """A flag applied in command-line order, as Ruby's OptionParser applies resque-pool's."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        self.takes_value = kwargs.pop("nargs", 0) != 0
        super().__init__(option_strings, dest, nargs=None if self.takes_value else 0, **kwargs)

    def __call__(self, parser: Any, ns: argparse.Namespace, value: Any, opt: Any = None) -> None:
        apply_flag(vars(ns), self.dest, value if self.takes_value else True)


def apply_flag(opts: dict[str, Any], name: str, value: Any) -> None:
    """One resque-pool flag, with its effect on the others (resque-pool's cli.rb rules)."""
    if name == "daemon":
        opts["daemon"] = True
        opts["stdout"] = opts.get("stdout") or DAEMON_STDOUT
        opts["stderr"] = opts.get("stderr") or DAEMON_STDERR
        if not opts.get("no_pidfile"):
            opts["pidfile"] = opts.get("pidfile") or DAEMON_PIDFILE
    elif name == "pidfile":
        opts["pidfile"], opts["no_pidfile"] = value, False
    elif name == "no_pidfile":
        opts["pidfile"], opts["no_pidfile"] = None, True
    elif name == "hot_swap":
        opts["pidfile"], opts["no_pidfile"] = None, True
        opts["lock"] = opts.get("lock") or HOT_SWAP_LOCK
        opts["kill_others"] = True
    else:
        opts[name] = value


# (flags, dest, value name or None, help): resque-pool's options, in its --help order
OPTIONS: list[tuple[tuple[str, ...], str, str | None, str]] = [
    (("-c", "--config"), "config", "PATH", "Alternate path to config file"),
    (("-a", "--appname"), "appname", "NAME", "Alternate appname"),
    (("-d", "--daemon"), "daemon", None, "Run as a background daemon"),
    (("-k", "--kill-others"), "kill_others", None, "Shutdown any other Resque Pools on startup"),
    (("-o", "--stdout"), "stdout", "FILE", "Redirect stdout to logfile"),
    (("-e", "--stderr"), "stderr", "FILE", "Redirect stderr to logfile"),
    (("--nosync",), "nosync", None, "Don't sync logfiles on every write"),
    (("-p", "--pidfile"), "pidfile", "FILE", "PID file location"),
    (("--no-pidfile",), "no_pidfile", None, "Force no pidfile, even if daemonized"),
    (("-l", "--lock"), "lock", "FILE", "Open a shared lock on a file"),
    (
        ("-H", "--hot-swap"),
        "hot_swap",
        None,
        "Set appropriate defaults to hot-swap a new pool for a running pool",
    ),
    (("-E", "--environment"), "environment", "ENVIRONMENT", "Set RAILS_ENV/RACK_ENV/RESQUE_ENV"),
    (
        ("-s", "--spawn-delay"),
        "spawn_delay",
        "MS",
        "Delay in milliseconds between spawning missing workers",
    ),
    (
        ("--term-graceful-wait",),
        "term_graceful_wait",
        None,
        "On TERM signal, wait for workers to shut down gracefully",
    ),
    (("--term-graceful",), "term_graceful", None, "On TERM signal, shut down workers gracefully"),
    (
        ("--term-immediate",),
        "term_immediate",
        None,
        "On TERM signal, shut down workers immediately (default)",
    ),
    (
        ("--single-process-group",),
        "single_process_group",
        None,
        "Workers remain in the same process group as the master",
    ),
]


def parser() -> argparse.ArgumentParser:
    from resqued.cli.common import Parser
    from resqued.version import __version__

    p = Parser(
        prog="resque-pool",
        usage=argparse.SUPPRESS,
        description=BANNER,
        add_help=False,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for names, dest, value, text in OPTIONS:
        p.add_argument(
            *names, dest=dest, action=_Flag, nargs=1 if value else 0, metavar=value, help=text
        )
        p.set_defaults(**{dest: False if value is None else None})
    p.add_argument("-h", "--help", action="help", help="Show this.")
    p.add_argument(
        "-v",
        "--version",
        action="version",
        version=f"resque-pool (resqued {__version__})",
        help="Show Version",
    )
    return p


def stop_table(term: str | None, term_child: bool) -> dict[str, str]:
    """resque-pool's QUIT, INT and TERM as the master's stop actions (see resqued/master/compat.py).

    ``term``: "graceful-wait" (--term-graceful-wait), "graceful" (--term-graceful)
    or None.  Under TERM_CHILD, resque-pool's graceful paths send workers TERM
    (Resque 1.22's graceful stop) and its immediate one QUIT, and TERM waits.
    """
    graceful, immediate = ("term", "quit") if term_child else ("quit", "term")
    behaviour = term or ("graceful-wait" if term_child else "immediate")
    return {
        "QUIT": "quit-exit" if term_child else "quit-wait",
        "INT": f"{graceful}-exit",
        "TERM": {
            "graceful-wait": f"{graceful}-wait",
            "graceful": f"{graceful}-exit",
            "immediate": f"{immediate}-exit",
        }[behaviour],
    }


def first_existing(names: tuple[str, ...], cwd: str) -> str | None:
    return next((n for n in names if os.path.isfile(os.path.join(cwd, n))), None)


def run(argv: list[str]) -> int:
    from resqued.cli.common import setup_logging
    from resqued.config.model import Overrides
    from resqued.config.values import count, seconds, switch
    from resqued.errors import ResquedError
    from resqued.master.start import Launch, launch
    from resqued.process import proctitle, workdir

    o: dict[str, Any] = vars(parser().parse_args(argv))
    cwd = workdir.logical_cwd(None)
    app = o.get("appname") or os.path.basename(cwd)
    proctitle.set_title(f"{proctitle.MANAGER_PREFIX} master starting resque-pool[{app}]")
    level = setup_logging(argparse.Namespace(verbose=False, quiet=False, log_format=None))
    log = logging.getLogger("resqued")

    def here(path: str | None) -> str | None:
        return os.path.normpath(os.path.join(cwd, path)) if path else None

    if o.get("environment"):
        for name in ENV_NAMES:  # for the application, its workers and the YAML section
            os.environ[name] = o["environment"]
    if o.get("config"):
        os.environ["RESQUE_POOL_CONFIG"] = o["config"]
    yaml_file = os.environ.get("RESQUE_POOL_CONFIG") or first_existing(CONFIG_FILES, cwd)
    if yaml_file and not os.path.isfile(here(yaml_file) or ""):
        raise ResquedError(f"cannot read config file {yaml_file}: no such file")
    setup = os.environ.get("RESQUE_POOL_SETUP") or first_existing(SETUP_FILES, cwd)
    if setup and not os.path.isfile(here(setup) or ""):
        raise ResquedError(f"cannot read setup file {setup}: no such file")
    term_child = switch(os.environ.get("TERM_CHILD"), False, "TERM_CHILD")
    if os.environ.get("DYNO") and not term_child:
        log.warning("WARNING: Are you running on Heroku? You should probably set TERM_CHILD=1")
    term = (
        "graceful-wait" if o["term_graceful_wait"] else "graceful" if o["term_graceful"] else None
    )
    verbose = any(os.environ.get(v) for v in ("VERBOSE", "LOGGING", "VVERBOSE"))
    delay = count(o["spawn_delay"], "-s/--spawn-delay") / 1000 if o.get("spawn_delay") else 0.0
    compat: dict[str, Any] = {
        "stop": stop_table(term, term_child),
        "relay_signals": ["USR1", "USR2", "CONT"],
        "winch": "always" if o["daemon"] else "never",
        "retire_signal": "TERM" if term_child else "QUIT",
        "process_groups": not o["single_process_group"],
        "kill_others": bool(o["kill_others"]),
        "lock_file": here(o.get("lock")),
        "title": f"resque-pool[{app}]",
        "spawn_delay": delay,
        "pool_yaml": here(yaml_file),
        "verbose": verbose,
    }
    values: dict[str, Any] = {"compat": compat}
    if os.environ.get("INTERVAL"):
        values["interval"] = seconds(os.environ["INTERVAL"], "INTERVAL")
    if term_child:
        values["term_child"] = True
    if os.environ.get("RESQUE_TERM_TIMEOUT"):
        values["term_timeout"] = seconds(os.environ["RESQUE_TERM_TIMEOUT"], "RESQUE_TERM_TIMEOUT")
    for key, name in (("pidfile", "pidfile"), ("stdout_path", "stdout"), ("stderr_path", "stderr")):
        if o.get(name):
            values[key] = here(o[name])
    make_directories(o, cwd)
    if not o["nosync"]:
        os.environ["PYTHONUNBUFFERED"] = "1"  # resque-pool syncs stdout/stderr on every write
    files = [path for path in [here(setup)] if path]
    overrides = Overrides(values, files, o.get("environment"))
    # logged by the master once -d, -o and -e took effect, as resque-pool logs it
    banner = f"Resque Pool running in {os.environ.get('RAILS_ENV') or 'development'} environment"
    start = Launch(overrides, cwd, level, ["resque-pool", *argv], bool(o["daemon"]), banner=banner)
    return launch(start)


def make_directories(opts: dict[str, Any], cwd: str) -> None:
    """Create the directories of resque-pool's default paths, and of any pidfile (as it does)."""
    paths = [opts.get("pidfile")]
    defaults = {"stdout": DAEMON_STDOUT, "stderr": DAEMON_STDERR, "lock": HOT_SWAP_LOCK}
    paths += [opts.get(k) for k, default in defaults.items() if opts.get(k) == default]
    for path in filter(None, paths):
        os.makedirs(os.path.dirname(os.path.join(cwd, path)), exist_ok=True)


def main(argv: list[str] | None = None) -> int:
    """The ``resque-pool`` console script."""
    from resqued.process import proctitle

    proctitle.set_title(f"{proctitle.MANAGER_PREFIX} master starting")
    from resqued.cli.common import guarded

    return guarded(run, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
