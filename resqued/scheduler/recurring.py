"""Which recurring schedules are due: their next times, kept as rufus-scheduler keeps them.

Times are computed from the moment a schedule is loaded: a mover that takes the
lock (or reloads) starts afresh, so runs missed while nobody held the lock are
not made up (resque-scheduler's behaviour: no catch-up storm), and a schedule
that fell behind (a long move, a stalled process) runs once, then at its next time.
"""

from __future__ import annotations

from resqued.scheduler.schedule import Entry, Schedule


class Recurring:
    def __init__(self) -> None:
        self.entries: Schedule = {}
        self.next_at: dict[str, float] = {}

    def load(self, entries: Schedule, now: float) -> None:
        """Replace every schedule (resque-scheduler's ``reload_schedule!``)."""
        self.entries = dict(entries)
        self.next_at = {name: e.trigger.first(now) for name, e in self.entries.items()}

    def put(self, name: str, entry: Entry | None, now: float) -> None:
        """One schedule set anew, or removed (None): a dynamic schedule's change."""
        self.entries.pop(name, None)
        self.next_at.pop(name, None)
        if entry is not None:
            self.entries[name] = entry
            self.next_at[name] = entry.trigger.first(now)

    def due(self, now: float) -> list[tuple[Entry, float]]:
        """The schedules due at ``now`` with the time each was due; their next times move on."""
        out = []
        for name, at in list(self.next_at.items()):
            if at <= now:
                entry = self.entries[name]
                out.append((entry, at))
                self.next_at[name] = entry.trigger.after(at, now)
        return sorted(out, key=lambda pair: pair[1])

    def next_time(self) -> float | None:
        return min(self.next_at.values(), default=None)
