"""The listener's job statistics: its workers' scoreboards summed, for the master's metrics.

Each worker publishes its cumulative statistics on its scoreboard (rows of
queue, class, processed, failed, seconds and cumulative bucket counts; see
resqued/scoreboard.py).  The listener keeps the latest rows of every live
worker and, when a worker has exited, reads its page one last time and adds
its rows to ``retired``, so the totals cover the listener's whole life across
recycled workers.  ``doc`` is what ``ipc.Stats`` carries to the master.
"""

from __future__ import annotations

from typing import Any

from resqued.scoreboard import STATES, Scoreboard

Row = list[Any]
Totals = dict[tuple[str, str], list[float]]
STATS_EVERY = 2.0  # seconds between reports to the master (when anything changed)


def add(into: Totals, rows: list[Row]) -> None:
    for row in rows:
        queue, cls, *numbers = row
        total = into.setdefault((str(queue), str(cls)), [0.0] * len(numbers))
        if len(total) == len(numbers):
            for i, n in enumerate(numbers):
                total[i] += float(n)


class StatsBook:
    def __init__(self) -> None:
        self.live: dict[int, list[Row]] = {}  # worker pid -> its latest cumulative rows
        self.retired: Totals = {}  # what exited workers did
        self.last_sent: dict[str, Any] | None = None
        self.next_at = 0.0

    def read(self, pid: int, board: Scoreboard) -> None:
        rows = board.read_stats()
        if rows is not None:
            self.live[pid] = rows

    def retire(self, pid: int, board: Scoreboard | None) -> None:
        """A worker exited: its final rows join the retired totals."""
        if board is not None:
            self.read(pid, board)
        rows = self.live.pop(pid, None)
        if rows:
            add(self.retired, rows)

    def doc(self, states: dict[str, int], registered: int = 0) -> dict[str, Any]:
        """``registered``: worker processes whose every thread has registered in Redis."""
        totals = {k: list(v) for k, v in self.retired.items()}
        for rows in self.live.values():
            add(totals, rows)
        jobs = [[q, c, *v] for (q, c), v in sorted(totals.items())]
        workers = {s: states.get(s, 0) for s in STATES}
        return {"jobs": jobs, "workers": workers, "registered": registered}

    def changed(self, doc: dict[str, Any]) -> bool:
        """True (and remembered) when ``doc`` differs from the last one sent."""
        if doc == self.last_sent:
            return False
        self.last_sent = doc
        return True
