"""Worker slots: one object per configured worker, and the listener's decisions as plain functions.

A ``Slot`` holds one row of the worker table (its queues and options), the pid
of the worker running it, when that worker started, its scoreboard and guard
rails (and what the listener already did to it: ``pending``), the restart
backoff, and why its last worker was replaced.  The functions below decide which slots to
start, how long a slot waits after its worker exited, and what a new table
means for the running workers; they make no system calls, so they are tested
directly (tests/unit/test_slots.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from resqued.config.model import WorkerRow
from resqued.listener.guard import Action, Rails, replacement_reason
from resqued.process.backoff import Backoff
from resqued.process.proc import signal_name
from resqued.scoreboard import Scoreboard

# A worker that exits uncleanly sooner than this after it started is crashing: its
# slot backs off.  One that ran longer and was killed from outside (the OOM killer,
# an operator) is replaced at once.
EARLY_DEATH = 5.0
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 60.0


@dataclass
class Slot:
    index: int
    row: WorkerRow
    pid: int | None = None
    started_at: float = 0.0  # monotonic
    not_before: float = 0.0  # monotonic: no start before this (backoff)
    backoff: Backoff = field(default_factory=lambda: Backoff(BACKOFF_FIRST, BACKOFF_MAX))
    last_reason: str = ""  # why its last worker went away
    board: Scoreboard | None = None  # its worker's scoreboard
    rails: Rails | None = None  # the guard rails its worker is held to
    pending: Action | None = None  # what the listener did to its worker: killed, retired
    killed_child: int = 0  # the job child its worker was asked to kill

    @property
    def busy(self) -> bool:
        return self.pid is not None

    def started(
        self, pid: int, now: float, board: Scoreboard | None = None, rails: Rails | None = None
    ) -> None:
        self.pid, self.started_at = pid, now
        self.board, self.rails, self.pending, self.killed_child = board, rails, None, 0

    def replacement_reason(self, status: int) -> str:
        """Why its worker went away: what the listener did, else what the worker said
        (``recycled after 5 jobs``), else how it exited."""
        note = self.board.exit_note() if self.board is not None else ""
        return replacement_reason(self.pending, note, clean_exit(status), exit_reason(status))

    def exited(self, status: int, now: float, stopping: bool) -> float:
        """Record its worker's exit; the delay before the slot may start again.

        A worker the listener killed on purpose (guard rails) is replaced at once.
        """
        lived = now - self.started_at
        self.pid = None
        self.last_reason = self.replacement_reason(status)
        deliberate = self.pending is not None
        self.board, self.pending, self.killed_child = None, None, 0
        if clean_exit(status) or lived >= EARLY_DEATH or stopping or deliberate:
            self.backoff.succeeded()
            self.not_before = 0.0
            return 0.0
        delay = self.backoff.failed()
        self.not_before = now + delay
        return delay


def clean_exit(status: int) -> bool:
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def exit_reason(status: int) -> str:
    """``exited``, ``exit status 3`` or ``killed by SIGKILL``, from a wait status."""
    if os.WIFSIGNALED(status):
        return f"killed by {signal_name(os.WTERMSIG(status))}"
    code = os.waitstatus_to_exitcode(status)
    return "exited" if code == 0 else f"exit status {code}"


def build(rows: list[WorkerRow]) -> list[Slot]:
    return [Slot(i, row) for i, row in enumerate(rows)]


def startable(slots: list[Slot], running: int, now: float) -> list[Slot]:
    """Free slots that may start now, in order, so that ``running`` never passes ``len(slots)``.

    ``running`` counts every worker alive that belongs to this table: this listener's,
    the ones it is retiring, and an older listener's still finishing their jobs.
    """
    room = len(slots) - running
    out: list[Slot] = []
    for slot in slots:
        if room <= 0:
            break
        if not slot.busy and slot.not_before <= now:
            out.append(slot)
            room -= 1
    return out


def held(slots: list[Slot]) -> int:
    """Slots without a worker: a running listener starts one in each, now or after its backoff."""
    return sum(1 for slot in slots if not slot.busy)


def reconcile(slots: list[Slot], rows: list[WorkerRow]) -> tuple[list[Slot], list[Slot]]:
    """Apply a new worker table: (the new slots, the slots whose running worker must retire).

    Each new row keeps an old slot with the same queues (the one at its position,
    else one with a running worker, else any), with its worker, backoff and
    history.  A running worker whose row went away retires (QUIT) and keeps
    counting against the total until it exits, so a resize never runs more
    workers than configured.
    """
    left = list(slots)
    new: list[Slot] = []
    for i, row in enumerate(rows):
        same = [s for s in left if s.row == row]
        keep = next((s for s in same if s.index == i), None)
        keep = keep or next((s for s in same if s.busy), None) or (same[0] if same else None)
        if keep is None:
            new.append(Slot(i, row))
            continue
        left.remove(keep)
        keep.index = i
        new.append(keep)
    return new, [s for s in left if s.busy]
