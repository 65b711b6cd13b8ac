"""An in-process job as a region that a signal handler can interrupt by raising inside it.

This is the one place a worker's signal handler does more than record: TERM
and USR1 raise ``TermException``/``JobKilled`` inside a job that runs in the
thread the handler runs in (the main thread of a single in-process worker).
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class Interruptible:
    def __init__(self) -> None:
        self._thread: int | None = None  # the thread running the region, while it runs

    def call(self, fn: Callable[[], object]) -> BaseException | None:
        """Run ``fn`` here; the exception it (or an interruption) raised, None on success."""
        me = threading.get_ident()
        try:
            try:
                self._thread = me
                fn()
            finally:
                self._thread = None
        except BaseException as exc:  # a job may raise anything, sys.exit too
            self._thread = None
            return exc
        return None

    def interrupt(self, exc: BaseException) -> bool:
        """Raise ``exc`` inside the region if it runs in this thread; False if nothing ran."""
        if self._thread is None or self._thread != threading.get_ident():
            return False
        self._thread = None
        raise exc
