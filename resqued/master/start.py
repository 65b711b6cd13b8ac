"""Starting a master: check the config in its own process, check the files, then serve.

Every command that runs a master starts it here: ``resqued`` (``cli/run.py``),
``resque-pool``, ``resque-starter`` and ``resqued work`` with
``COUNT``/``WORKER_COUNT``.  The config is evaluated by the check process,
never here; log files and the pidfile are checked before anything detaches;
then the master claims the pidfile (or, with ``--hot-swap``, waits to take it
over), adopts a USR2 re-exec's state if there is one, and runs, in the
foreground or daemonized.  For the compat commands: ``compat.log_level`` sets
the master's level, and ``compat.lock_file`` is held (shared) by the master too.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

from resqued.config import probe
from resqued.config.compat import LOG_LEVELS
from resqued.config.model import Overrides
from resqued.config.view import MasterView
from resqued.errors import ResquedError
from resqued.master import daemon, pidfile
from resqued.master.loop import Master
from resqued.master.state import MasterState
from resqued.master.upgrade import PREFLIGHT_ENV
from resqued.process import lockfile, logs
from resqued.process.proc import alive

log = logging.getLogger("resqued")


@dataclass
class Launch:
    overrides: Overrides
    cwd: str
    level: int = logging.INFO
    argv: list[str] = field(default_factory=list)  # shown in the title when no config file
    daemonize: bool = False
    test: bool = False  # --test: print the worker table and what was checked, then exit
    strict: bool = False  # --strict: --test fails when Redis does not answer
    banner: str = ""  # logged once -d and the log files took effect (resque-pool's line)
    state: MasterState | None = None  # a USR2 re-exec's (or --replace's) state to adopt
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
            check_redis=True,
            strict=start.strict or preflight,  # a new release's Redis must answer
            before_exec=preflight,
            timeout=timeout,
        )
        if not answer.ok:
            raise ResquedError(answer.error)
        print_test(answer)
        return 0
    if start.state:  # a re-exec: the old image's view of the config comes with its state
        view = start.state.view
    else:
        answer = probe.evaluate(start.overrides, start.cwd, timeout=timeout)
        if not answer.ok:
            raise ResquedError(answer.error)
        view = answer.view
    level = LOG_LEVELS.get(view.compat.log_level or "", start.level)
    logging.getLogger("resqued").setLevel(level)
    check_files(view, start.hot_swap, bool(start.state))

    def serve() -> int:
        logs.redirect(view.stdout_path, view.stderr_path)
        if start.banner:
            log.info("%s", start.banner)
        if view.compat.lock_file:
            lockfile.hold_shared(view.compat.lock_file)
        master = Master(start.overrides, view, start.cwd, level, start.argv, start.boot_timeout)
        return run_master(master, start.state, start.hot_swap)

    if start.daemonize and not start.state:  # a re-exec is already detached
        return daemon.run_detached(serve)
    return serve()


def print_test(answer: probe.Answer) -> None:
    """``--test``: the worker table, then what was checked."""
    print(answer.view.table)
    if answer.app:
        print(f"app: imported {answer.app}")
    if answer.redis:
        print(f"redis: {answer.redis} answers")
    if answer.redis_down:
        print(f"{answer.redis_down} (not needed for --test; --test --strict requires it)")


def check_files(view: MasterView, hot_swap: bool = False, adopted: bool = False) -> None:
    """Log files must be writable; the pidfile must not name a live master (unless --hot-swap)
    nor hold garbage. A pidfile naming a process that is not a resqued master (stale, the pid
    reused) is taken over with a warning; that process is never signalled."""
    for path in (view.stdout_path, view.stderr_path):
        if path:
            try:
                logs.check_writable(path)
            except OSError as exc:
                raise ResquedError(f"cannot write log file {path}: {exc.strerror}") from None
    path = view.pidfile
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


def run_master(master: Master, state: MasterState | None, hot_swap: bool) -> int:
    """Run a master until it is told to stop, holding the pidfile meanwhile.

    After a USR2 re-exec this is the new image: it adopts the listeners the
    old image left, under the same pid and pidfile.
    """
    path = master.view.pidfile
    if path:
        holder = pidfile.running_master(path)
        if hot_swap and holder and holder != os.getpid() and alive(holder):
            master.replace_pid = holder
        else:
            pidfile.write(path)
    if state:
        master.adopt(state)
    try:
        return master.run()
    finally:
        if path:
            pidfile.remove(path)
