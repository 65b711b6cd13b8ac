"""The self-pipe every process loop sleeps on, woken by signals (set_wakeup_fd) or by a poke.

Signal handlers registered through ``catch`` only queue the signal; the loop
calls ``dispatch`` to run ``handle_<name>`` methods, gunicorn-style.
"""

from __future__ import annotations

import collections
import os
import select
import signal
from collections.abc import Callable, Iterable
from typing import Any


class Wakeup:
    def __init__(self) -> None:
        self.r, self.w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.queued: collections.deque[int] = collections.deque()

    def catch(
        self, names: Iterable[str], handler: Callable[[int, Any], None] | None = None
    ) -> None:
        """Wake on these signals; by default queue them for ``dispatch``."""
        signal.set_wakeup_fd(self.w, warn_on_full_buffer=False)
        for name in names:
            signal.signal(getattr(signal, "SIG" + name), handler or self._queue)

    def _queue(self, signum: int, frame: Any) -> None:
        self.queued.append(signum)

    def dispatch(self, target: object) -> None:
        """Run ``target.handle_<signal>()`` for every queued signal, in order."""
        while self.queued:
            name = signal.Signals(self.queued.popleft()).name[3:].lower()
            getattr(target, "handle_" + name)()

    def poke(self) -> None:
        try:
            os.write(self.w, b"!")
        except BlockingIOError:
            pass

    def wait(self, timeout: float, *fds: int) -> list[int]:
        """Sleep until woken, one of ``fds`` is readable, or ``timeout``; the ready ``fds``."""
        try:
            ready, _, _ = select.select([self.r, *fds], [], [], max(0.0, timeout))
        except InterruptedError:
            ready = []
        if self.r in ready:
            try:
                while os.read(self.r, 512):
                    pass
            except BlockingIOError:
                pass
        return [fd for fd in ready if fd != self.r]

    def close(self) -> None:
        """In a forked child: let go of the parent's pipe and its signal wake-ups."""
        signal.set_wakeup_fd(-1)
        os.close(self.r)
        os.close(self.w)
