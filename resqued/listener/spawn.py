"""Forking one worker from the preloaded listener, and what the new worker does first.

The child lets go of the listener's signal handlers, wake-up pipe and master
channel, drops privileges when ``user()`` is configured, imports the app if it
was not preloaded, runs the config's ``after_fork`` hooks with the worker, and
works until told to stop.  It never returns into the listener's code.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterable

from resqued import app, hooks
from resqued.config import Config
from resqued.config.model import WorkerSlot
from resqued.resque import registry
from resqued.resque.queues import QueueList
from resqued.resque.store import Store
from resqued.scoreboard import Scoreboard
from resqued.worker.build import build_worker, options_for

log = logging.getLogger("resqued")


def fork_worker(
    config: Config,
    row: WorkerSlot,
    store: Store,
    master_pid: int,
    let_go: Callable[[], None],
    reset_signals: Iterable[str],
    board: Scoreboard | None = None,
) -> int:
    """Fork a worker for ``row``; the child's pid (the child never returns).

    ``board``: the scoreboard the worker writes and the listener reads.
    """
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        let_go()
        for name in reset_signals:
            signal.signal(getattr(signal, "SIG" + name), signal.SIG_DFL)
        drop_privileges(config.user, config.group)
        if not config.preload_app:
            app.require_all(config.requires)
        code = work(config, row, store, master_pid, board)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        log.exception("worker %d crashed", os.getpid())
        code = 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def work(
    config: Config, row: WorkerSlot, store: Store, master_pid: int, board: Scoreboard | None = None
) -> int:
    pause_key = store.keys.master_pause(f"{registry.hostname()}:{master_pid}")
    options = options_for(config, row, pause_key=pause_key, parent_pid=os.getppid())
    queues = QueueList.parse(list(row.queues))
    worker = build_worker(store, queues, options, config.threads, config.worker_factory, board)
    hooks.run("config.after_fork", config.hooks["after_fork"], worker)
    return int(worker.work() or 0)


def drop_privileges(user: str | None, group: str | None) -> None:
    """Become ``user`` (and ``group``) when running as root; nothing otherwise."""
    if not user or os.getuid() != 0:
        return
    import grp
    import pwd

    entry = pwd.getpwnam(user)
    gid = grp.getgrnam(group).gr_gid if group else entry.pw_gid
    os.setgid(gid)
    os.initgroups(user, gid)
    os.setuid(entry.pw_uid)


def hand_logs_to(user: str | None, group: str | None, paths: Iterable[str | None]) -> None:
    """Give the log files to the workers' user, so they can reopen them on USR1 (as unicorn does).

    Only when running as root with ``user()`` configured; a file that cannot be
    changed is left as it is (the workers then keep writing to their open descriptor).
    """
    if not user or os.getuid() != 0:
        return
    import grp
    import pwd

    try:
        entry = pwd.getpwnam(user)
        gid = grp.getgrnam(group).gr_gid if group else entry.pw_gid
    except KeyError as exc:
        log.error("user() names an unknown user or group: %s", exc)
        return
    for path in {p for p in paths if p}:
        try:
            os.chown(path, entry.pw_uid, gid)
        except OSError as exc:
            log.warning("cannot give log file %s to %s: %s", path, user, exc.strerror)
