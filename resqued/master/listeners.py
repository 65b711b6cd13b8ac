"""The master's listeners: the current one, older ones still retiring, and their workers.

Mechanics only (start, reap, read, forward, count, signal, retire); what the
master does when a listener gets ready, fails or dies is in ``resqued.master.loop``.

A reload retires the older listeners' workers one at a time: ``retire_all_but``
tells them ``RETIRE`` (they stop starting workers), and each ``NEXT`` of the new
listener (its replacements are up) makes ``retire_next`` name one more worker
to stop.  ``fall_back`` is the old way, every older worker told QUIT at once:
for listeners of an older image, a new listener that died or stalls, a USR2.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable
from typing import Any

from resqued import ipc
from resqued.config.model import Overrides
from resqued.master.proxy import ListenerProxy
from resqued.master.state import MasterState
from resqued.process import logs
from resqued.process.backoff import Backoff
from resqued.process.proc import alive, signal_quietly

log = logging.getLogger("resqued")


class Listeners:
    def __init__(self, spawn: Callable[[int, dict[str, Any], str], ListenerProxy] = ListenerProxy):
        self.spawn = spawn  # starts a listener process (tests give a fake one)
        self.generation = 0
        self.current: ListenerProxy | None = None
        self.listeners: list[ListenerProxy] = []  # every listener still to be reaped
        self.orphans: dict[int, str] = {}  # workers of listeners that are gone
        self.backoff = Backoff(1.0, 60.0)
        self.next_start_at = 0.0
        self.rolled_at = 0.0  # monotonic: the rolling hand-over's last step
        self.next_held = False  # a NEXT waits for a retiring listener's worker to start

    def save(self, state: MasterState) -> None:
        """Put what a new master image needs to adopt the listeners into ``state``."""
        state.generation = self.generation
        state.current = self.current.pid if self.current else None
        state.listeners = [li.saved() for li in self.listeners]
        state.orphans = dict(self.orphans)

    def adopt(self, state: MasterState) -> None:
        """Take over the listeners a previous image of this master left running."""
        self.generation = state.generation
        self.listeners = [ListenerProxy.adopt(record) for record in state.listeners]
        self.current = next((li for li in self.listeners if li.pid == state.current), None)
        self.orphans = dict(state.orphans)

    @property
    def workers(self) -> int:
        """Every worker alive under this master, whichever listener started it."""
        return sum(len(li.workers) for li in self.listeners) + len(self.orphans)

    def worker_pids(self) -> list[int]:
        return [p for li in self.listeners for p in li.workers] + list(self.orphans)

    @property
    def empty(self) -> bool:
        return not self.listeners and not self.orphans

    def previous_ready(self) -> ListenerProxy | None:
        """The newest listener that got ready and still runs (what a failed reload keeps)."""
        return next((li for li in reversed(self.listeners) if li.ready), None)

    def start(self, spec: dict[str, Any], cwd: str) -> ListenerProxy:
        """A new current listener, told about every older worker still running."""
        self.generation += 1
        listener = self.spawn(self.generation, spec, cwd)
        self.current = listener
        self.listeners.append(listener)
        for old in self.listeners[:-1]:
            for pid, queues in old.workers.items():
                listener.send(ipc.WorkerStarted(pid, queues))
        for pid, queues in self.orphans.items():
            listener.send(ipc.WorkerStarted(pid, queues))
        self._tell_held(sum(li.held for li in self.listeners[:-1]))
        log.info("started %r", listener)
        return listener

    def reaped(self, pid: int, status: int) -> ListenerProxy | None:
        """The listener ``pid`` exited: its workers become orphans. None if not a listener."""
        listener = next((li for li in self.listeners if li.pid == pid), None)
        if listener is None:
            self.orphans.pop(pid, None)  # an orphan reparented to us (the master is PID 1)
            return None
        listener.reaped(status)
        self.listeners.remove(listener)
        self.orphans.update(listener.workers)
        self._tell_held(sum(li.held for li in self.listeners if li is not self.current))
        return listener

    def read(self) -> list[tuple[ListenerProxy, ipc.Message]]:
        """Every listener's reports; an older listener's go on to the current one, in order."""
        out = []
        for listener in list(self.listeners):
            for message in listener.read():
                out.append((listener, message))
                if listener is not self.current:
                    self._forward(listener, message)
        return out

    def _forward(self, older: ListenerProxy, message: ipc.Message) -> None:
        """An older listener's worker started or exited, or the slots it will fill changed.

        In the order it sent them: it reports more slots held before the exit that
        frees one and fewer after the start that fills one, so the current listener
        never sees a slot free that an older one may still fill (docs/ipc.md).
        """
        match message:
            case ipc.WorkerStarted() if self.current:
                self.current.send(message)
            case ipc.WorkerExited(pid) if self.current:
                self.current.send(ipc.WorkerExited(pid))
            case ipc.Held(slots):
                others = (li.held for li in self.listeners if li not in (older, self.current))
                self._tell_held(slots + sum(others))

    def _tell_held(self, slots: int) -> None:
        """The current listener: older listeners will fill this many slots (when it changed)."""
        current = self.current
        if current and current.running and slots != current.held_told:
            current.send(ipc.Held(slots))
            current.held_told = slots

    def watch_orphans(self) -> None:
        """Orphans are nobody's children: poll them, and free their slots as they go."""
        for pid in [p for p in self.orphans if not alive(p)]:
            del self.orphans[pid]
            if self.current:
                self.current.send(ipc.WorkerExited(pid))

    def booting_past(self, limit: float) -> ListenerProxy | None:
        """The current listener if it has been booting for longer than ``limit`` seconds."""
        li = self.current
        if li and not li.ready and not li.failure and time.monotonic() - li.started > limit:
            return li
        return None

    def retire_all_but(self, keep: ListenerProxy, sig: int = signal.SIGQUIT) -> None:
        """``keep`` got ready: the others go, their workers one at a time when they can."""
        self.rolled_at = time.monotonic()
        for old in self.listeners:
            if old is keep or old.rolling:
                continue
            if sig == signal.SIGQUIT and old.rolls and old.ready and old.running:
                log.info("retiring %r: its workers go one at a time", old)
                old.rolling = True
                old.send(ipc.Retire())
            else:
                log.info("retiring %r", old)
                old.kill(sig)

    @property
    def rolling(self) -> bool:
        return any(li.rolling for li in self.listeners)

    def retire_next(self) -> int:
        """The current listener's replacements are up: stop one more older worker (its pid;
        0 when none is left to name, or while a retiring listener still starts a worker:
        then the NEXT waits for its STATS, see ``turn``)."""
        self.next_held = any(li.rolling and li.starting for li in self.listeners)
        if self.next_held:
            return 0
        for old in self.listeners:
            if not old.rolling:
                continue
            pid = next((p for p in old.workers if p not in old.asked), 0)
            if pid:
                old.asked.add(pid)
                old.send(ipc.Retire(pid))
                self.rolled_at = time.monotonic()
                return pid
        return 0

    def fall_back(self, why: str) -> None:
        """The rolling hand-over ends the old way: every older listener left QUITs its
        workers at once."""
        for old in self.listeners:
            if old.rolling:
                log.warning("retiring %r: all its workers at once (%s)", old, why)
                old.rolling = False
                old.kill(signal.SIGQUIT)

    def stalled(self, limit: float) -> bool:
        """A rolling hand-over the current listener has not moved for ``limit`` seconds."""
        current = self.current
        if not self.rolling or current is None or not current.ready:
            return False
        return time.monotonic() - self.rolled_at > limit

    def signal(self, sig: int) -> None:
        for listener in self.listeners:
            if sig in (signal.SIGQUIT, signal.SIGTERM, signal.SIGKILL):
                listener.rolling = False  # it stops every worker itself
            listener.kill(sig)

    def kill_everything(self) -> None:
        """The end of a TERM's timeout: KILL every worker and listener left."""
        for pid in self.worker_pids():
            signal_quietly(pid, signal.SIGKILL)
        self.signal(signal.SIGKILL)


def listener_spec(overrides: Overrides, pool: int | None, log_level: int) -> dict[str, Any]:
    """What a new listener is started with ($RESQUED_LISTENER); ``pool`` after TTIN/TTOU."""
    if pool is not None:
        values = {**overrides.values, "worker_processes": pool}
        overrides = Overrides(values, overrides.config_files, overrides.environment)
    return {
        "overrides": overrides.to_json(),
        "master_pid": os.getpid(),
        "stdout_path": logs.paths()[0],
        "stderr_path": logs.paths()[1],
        "log_level": log_level,
    }
