"""The listener's prune, in a short-lived process of its own: the heartbeat never waits for it.

The listener's loop writes its workers' Redis heartbeat, applies the guard
rails and restarts workers; a prune can take many round trips (every dead
worker's unregister), and on a slow Redis, long.  So the listener forks the
prune (``resqued-<ver> listener #N pruning``): a fresh Redis client, the
application's ``on_failure`` hooks already imported, one prune, exit.  The
listener reaps it and starts the next one ``prune_interval`` later, never two
at once.  A prune that fails logs one line and changes nothing for the loop.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable, Iterable

from resqued.listener.exits import prune
from resqued.process import proctitle
from resqued.process.proc import reaped
from resqued.resque.store import Store

log = logging.getLogger("resqued")

EXIT_WAIT = 5.0  # how long a stopping listener waits for a prune under way


class Pruner:
    def __init__(
        self,
        store: Store,
        number: int,
        reset_signals: Iterable[str],
        let_go: Callable[[], None],
    ) -> None:
        self.url, self.namespace = store.url, store.keys.namespace
        self.number = number
        self.reset_signals = tuple(reset_signals)
        self.let_go = let_go  # in the child: drop the listener's channel, pipe, scoreboards
        self.pid = 0  # the prune under way (0: none)

    def start(self, mine: Iterable[int] = ()) -> None:
        """Fork a prune, unless one is under way.  ``mine``: the listener's workers' pids
        (the listener unregisters those itself when it reaps them)."""
        self.reap()
        if self.pid:
            return
        try:
            pid = os.fork()
        except OSError as exc:
            log.warning("listener #%d: cannot fork a prune: %s", self.number, exc)
            return
        if pid == 0:
            self._run(frozenset(mine))
        self.pid = pid

    def reap(self) -> None:
        if self.pid and any(True for _ in reaped([self.pid])):
            self.pid = 0

    def wait(self, timeout: float = EXIT_WAIT) -> None:
        """On the listener's way out: let a prune under way finish (a while), then leave it."""
        end = time.monotonic() + timeout
        while self.pid and time.monotonic() < end:
            self.reap()
            if self.pid:
                time.sleep(0.05)

    def _run(self, mine: frozenset[int]) -> None:
        """In the child: one prune on a client of its own, then exit (never returns)."""
        code = 1
        try:
            self.let_go()  # the master sees the listener's channel close when the listener exits
            for name in self.reset_signals:
                signal.signal(getattr(signal, "SIG" + name), signal.SIG_DFL)
            proctitle.set_title(f"{proctitle.MANAGER_PREFIX} listener #{self.number} pruning")
            prune(Store.connect(self.url, self.namespace), self.number, mine)
            code = 0
        except BaseException:
            log.exception("listener #%d: the prune crashed", self.number)
        finally:
            os._exit(code)
