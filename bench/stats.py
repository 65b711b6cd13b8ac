"""Figures of interleaved rounds: medians with their spread, and the rows of the report."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any


def summary(samples: list[float]) -> dict[str, Any]:
    """Median, min and max of one figure over its rounds, with the samples themselves."""
    if not samples:
        raise ValueError("no samples")
    return {
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
        "samples": list(samples),
    }


def percentile(values: list[float], pct: float) -> float:
    """The ``pct`` percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


@dataclass
class Row:
    """One line of the report: our figure, the peer's or the limit's, and ours / theirs.

    ``ours`` and ``peer`` hold one sample per round; the ratio is taken round by
    round (the two were measured back to back), then summarised.
    """

    row: str
    measure: str
    unit: str
    better: str  # "higher" or "lower"
    ours: list[float]
    peer_name: str = ""
    peer: list[float] = field(default_factory=list)
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def ratios(self) -> list[float]:
        if not self.peer:
            return []
        if len(self.peer) == 1:  # a constant limit: compare every round with it
            return [o / self.peer[0] for o in self.ours if self.peer[0]]
        return [o / p for o, p in zip(self.ours, self.peer, strict=True) if p]

    def to_json(self) -> dict[str, Any]:
        ratios = self.ratios()
        return {
            "row": self.row,
            "measure": self.measure,
            "unit": self.unit,
            "better": self.better,
            "ours": summary(self.ours),
            "peer_name": self.peer_name or None,
            "peer": summary(self.peer) if self.peer else None,
            "ratio_ours_over_peer": summary(ratios) if ratios else None,
            "rounds": len(self.ours),
            "note": self.note,
            **({"extra": self.extra} if self.extra else {}),
        }
