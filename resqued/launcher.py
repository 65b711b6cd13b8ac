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

log = logging.getLogger("resqued")


@dataclass
class Launch:
    overrides: Overrides
    cwd: str
    level: int = logging.INFO
    argv: list[str] = field(default_factory=list)  # shown in the title when no config file
    daemonize: bool = False
    test: bool = False  # --test: print the worker table and what was checked, then exit


def launch(start: Launch) -> int:
    from resqued.resque.connection import default_url, validate

    validate(start.overrides.values.get("redis_url") or default_url())  # $REDIS_URL too
    if start.test:
        answer = probe.evaluate(start.overrides, start.cwd, import_app=True, check_redis=True)
        if not answer.ok:
            raise ResquedError(answer.error)
        print(answer.view.get("table", ""))
        print(f"app: imported {answer.app}")
        print(f"redis: {answer.redis} answers")
        return 0
    answer = probe.evaluate(start.overrides, start.cwd)
    if not answer.ok:
        raise ResquedError(answer.error)
    view = answer.view
    compat = view.get("compat") or {}
    level = LOG_LEVELS.get(compat.get("log_level") or "", start.level)
    logging.getLogger("resqued").setLevel(level)
    check_files(view)

    def serve() -> int:
        logs.redirect(view.get("stdout_path"), view.get("stderr_path"))
        if compat.get("lock_file"):
            lockfile.hold_shared(compat["lock_file"])
        return startup.serve(start.overrides, view, start.cwd, level, start.argv)

    if start.daemonize:
        return daemon.run_detached(serve)
    return serve()


def check_files(view: dict[str, Any]) -> None:
    """Log files must be writable, and the pidfile must not name a live master (nor garbage)."""
    for path in (view.get("stdout_path"), view.get("stderr_path")):
        if path:
            try:
                logs.check_writable(path)
            except OSError as exc:
                raise ResquedError(f"cannot write log file {path}: {exc.strerror}") from None
    path = view.get("pidfile")
    if path:
        found = pidfile.holder(path)
        if found.state == "master" and found.pid != os.getpid():
            raise ResquedError(f"pidfile {path} names pid {found.pid}, which is still running")
        if found.state == "foreign":
            log.warning("%s; taking it over", found.describe())
