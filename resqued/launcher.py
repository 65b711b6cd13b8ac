"""Starting a master for the compat commands (``resque-pool``, ``resque-starter``, ``resqued work``
with ``COUNT``/``WORKER_COUNT``): check the config in its own process, then serve.

The same steps as ``resqued``'s own start (``resqued/cli/run.py``): the config
is evaluated by the check process, never here; log files and the pidfile are
checked before anything detaches; then the master runs, in the foreground or
daemonized.  Added for the compat commands: ``compat.log_level`` sets the
master's level, and ``compat.lock_file`` is held (shared) by the master too.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

from resqued import daemon, lockfile, logs, pidfile, startup
from resqued.config import probe
from resqued.config.compat import LOG_LEVELS
from resqued.config.model import Overrides
from resqued.errors import ResquedError
from resqued.reexec import PREFLIGHT_ENV

log = logging.getLogger("resqued")


@dataclass
class Launch:
    overrides: Overrides
    cwd: str
    level: int = logging.INFO
    argv: list[str] = field(default_factory=list)  # shown in the title when no config file
    daemonize: bool = False
    test: bool = False  # --test: print the worker table and what was checked, then exit
    state: dict[str, Any] | None = None  # a USR2 re-exec's (or --replace's) state to adopt
    hot_swap: bool = False
    boot_timeout: float | None = None  # --boot-timeout: the config check's deadline too


def launch(start: Launch) -> int:
    from resqued.resque.connection import default_url, validate

    validate(start.overrides.values.get("redis_url") or default_url())  # $REDIS_URL too
    timeout = start.boot_timeout or probe.DEFAULT_TIMEOUT
    if start.test:
        preflight = bool(os.environ.get(PREFLIGHT_ENV))  # USR2's check of a new release
        answer = probe.evaluate(
            start.overrides,
            start.cwd,
            import_app=True,
            check_redis=not preflight,
            before_exec=preflight,
            timeout=timeout,
        )
        if not answer.ok:
            raise ResquedError(answer.error)
        print_test(answer)
        return 0
    if start.state:  # a re-exec: the old image's view of the config comes with its state
        view: dict[str, Any] = start.state.get("view") or {}
    else:
        answer = probe.evaluate(start.overrides, start.cwd, timeout=timeout)
        if not answer.ok:
            raise ResquedError(answer.error)
        view = answer.view
    compat = view.get("compat") or {}
    level = LOG_LEVELS.get(compat.get("log_level") or "", start.level)
    logging.getLogger("resqued").setLevel(level)
    check_files(view, start.hot_swap, bool(start.state))

    def serve() -> int:
        logs.redirect(view.get("stdout_path"), view.get("stderr_path"))
        if compat.get("lock_file"):
            lockfile.hold_shared(compat["lock_file"])
        return startup.serve(
            start.overrides,
            view,
            start.cwd,
            level,
            start.argv,
            start.state,
            start.hot_swap,
            start.boot_timeout,
        )

    if start.daemonize and not start.state:  # a re-exec is already detached
        return daemon.run_detached(serve)
    return serve()


def print_test(answer: probe.Answer) -> None:
    """``--test``: the worker table, then what was checked."""
    print(answer.view.get("table", ""))
    if answer.app:
        print(f"app: imported {answer.app}")
    if answer.redis:
        print(f"redis: {answer.redis} answers")


def check_files(view: dict[str, Any], hot_swap: bool = False, adopted: bool = False) -> None:
    """Log files must be writable; the pidfile must not name a live master (unless --hot-swap)
    nor hold garbage. A pidfile naming a process that is not a resqued master (stale, the pid
    reused) is taken over with a warning; that process is never signalled."""
    for path in (view.get("stdout_path"), view.get("stderr_path")):
        if path:
            try:
                logs.check_writable(path)
            except OSError as exc:
                raise ResquedError(f"cannot write log file {path}: {exc.strerror}") from None
    path = view.get("pidfile")
    if hot_swap and not path and not adopted:
        raise ResquedError("--hot-swap needs -p/--pidfile: it names the master to take over from")
    if not path or adopted:
        return
    found = pidfile.holder(path)
    if found.state == "master" and found.pid != os.getpid() and not hot_swap:
        raise ResquedError(f"pidfile {path} names pid {found.pid}, which is still running")
    if found.state == "foreign":
        then = "nothing to take over from; starting" if hot_swap else "taking it over"
        what = found.describe()
        if found.pid == os.getpid():  # a restarted container: pid 1 again, another process
            what = f"pidfile {path} names pid {found.pid}, ours, but an earlier process wrote it"
        log.warning("%s; %s", what, then)
