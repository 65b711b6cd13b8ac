"""Job statistics across a master's listeners: what the metrics endpoint serves.

Each listener reports its workers' cumulative statistics (``STATS``, see
resqued/ipc.py); a listener's counts only grow, and its proxy keeps the latest
report.  When a listener is gone its last report is added to ``retired``, so
totals survive worker recycling and reloads; ``retired`` crosses a USR2 re-exec
in the state, and the adopted listeners' proxies keep their latest reports.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from resqued.scoreboard import BUCKETS

Row = list[Any]  # queue, class, processed, failed, seconds, *cumulative bucket counts
Totals = dict[tuple[str, str], list[float]]


def merge(into: Totals, rows: Iterable[Row]) -> None:
    """Add ``rows`` to ``into`` (keyed by queue and class); malformed rows are skipped."""
    width = 3 + len(BUCKETS)
    for row in rows:
        if not isinstance(row, list) or len(row) != 2 + width:
            continue
        queue, cls, *numbers = row
        try:
            values = [float(n) for n in numbers]
        except (TypeError, ValueError):
            continue
        total = into.setdefault((str(queue), str(cls)), [0.0] * width)
        for i, v in enumerate(values):
            total[i] += v


class JobStats:
    def __init__(self) -> None:
        self.retired: Totals = {}

    def retire(self, last_report: dict[str, Any]) -> None:
        """A listener is gone: keep what its workers did."""
        merge(self.retired, last_report.get("jobs") or [])

    def totals(self, live: Iterable[dict[str, Any]]) -> Totals:
        out = {k: list(v) for k, v in self.retired.items()}
        for doc in live:
            merge(out, doc.get("jobs") or [])
        return out

    @staticmethod
    def workers(live: Iterable[dict[str, Any]]) -> dict[str, int]:
        """Workers by state, from the live listeners' latest reports."""
        out: dict[str, int] = {}
        for doc in live:
            for state, n in (doc.get("workers") or {}).items():
                if isinstance(n, int):
                    out[str(state)] = out.get(str(state), 0) + n
        return out

    def saved(self) -> list[Row]:
        return [[q, c, *v] for (q, c), v in self.retired.items()]

    def restore(self, rows: list[Row]) -> None:
        merge(self.retired, rows)
