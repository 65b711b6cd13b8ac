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

from resqued import app
from resqued.config import Config
from resqued.config.model import WorkerRow
from resqued.listener import compat
from resqued.process.privileges import drop as drop_privileges
from resqued.resque.queues import QueueList
from resqued.resque.store import Store
from resqued.scoreboard import Scoreboard
from resqued.worker import signals as worker_signals
from resqued.worker.build import build_worker
from resqued.worker.options import WorkerOptions

log = logging.getLogger("resqued")


def fork_worker(
    config: Config,
    row: WorkerRow,
    options: WorkerOptions,
    store: Store,
    let_go: Callable[[], None],
    reset_signals: Iterable[str],
    board: Scoreboard | None = None,
) -> int:
    """Fork a worker for ``row``; the child's pid (the child never returns).

    ``board``: the scoreboard the worker writes and the listener reads.
    """
    # The worker's signals are blocked across the fork, until the child has let go of the
    # listener's handlers and records them for its own (worker.signals.hold_until_installed).
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, worker_signals.SIGNUMS)
    try:
        pid = os.fork()
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        raise
    if pid:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        return pid
    code = 1
    try:
        let_go()
        for name in reset_signals:
            signal.signal(getattr(signal, "SIG" + name), signal.SIG_DFL)
        worker_signals.hold_until_installed()
        if config.compat.process_groups:
            os.setpgrp()  # resque-pool's default: a terminal's Ctrl-C reaches the master only
        drop_privileges(config.user, config.group)
        if not config.preload_app:
            app.require_all(config.requires)
        code = work(config, row, options, store, board)
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
    config: Config,
    row: WorkerRow,
    options: WorkerOptions,
    store: Store,
    board: Scoreboard | None = None,
) -> int:
    queues = QueueList.parse(list(row.queues))
    worker = build_worker(store, queues, options, config.threads, config.worker_factory, board)
    compat.after_fork(config, worker)  # the config's after_fork hooks, in their forms
    return int(worker.work() or 0)
