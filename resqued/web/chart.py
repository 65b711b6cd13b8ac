"""The overview's jobs/s chart as SVG geometry: two polylines over the last minutes, and
the legend's numbers (the last interval, the average and the peak of each line)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from resqued.fleet.rates import Rate

WIDTH, HEIGHT = 1000, 200
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 10, 22  # margins for the labels


@dataclass(frozen=True)
class Chart:
    processed: str  # SVG polyline points
    failed: str
    y_max: float  # jobs/s at the top line
    ticks: list[tuple[float, str]]  # (y pixel, label) of the horizontal grid lines
    minutes: int  # span of the x axis
    now_processed: float  # the last interval's rates, for the legend
    now_failed: float
    empty: bool
    avg_processed: float = 0.0  # over the chart's span
    avg_failed: float = 0.0
    peak_processed: float = 0.0
    peak_failed: float = 0.0
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right_x: int = WIDTH - RIGHT
    bottom_y: int = HEIGHT - BOTTOM


def nice_max(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten that is at least ``value`` (min 1)."""
    if value <= 1:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return float(step * power)
    return float(10 * power)


def _label(v: float) -> str:
    return f"{v:g}"


def build(rates: list[Rate], now: float, window: float) -> Chart:
    y_max = nice_max(max((max(r.processed, r.failed) for r in rates), default=0.0))
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    start = now - window

    def point(at: float, value: float) -> str:
        x = LEFT + plot_w * min(1.0, max(0.0, (at - start) / window))
        y = TOP + plot_h * (1 - value / y_max)
        return f"{x:.1f},{y:.1f}"

    ticks = [(TOP + plot_h * (1 - f), _label(y_max * f)) for f in (0.0, 0.5, 1.0)]
    last = rates[-1] if rates else None
    return Chart(
        processed=" ".join(point(r.at, r.processed) for r in rates),
        failed=" ".join(point(r.at, r.failed) for r in rates),
        y_max=y_max,
        ticks=ticks,
        minutes=max(1, round(window / 60)),
        now_processed=last.processed if last else 0.0,
        now_failed=last.failed if last else 0.0,
        empty=len(rates) < 1,
        avg_processed=sum(r.processed for r in rates) / len(rates) if rates else 0.0,
        avg_failed=sum(r.failed for r in rates) / len(rates) if rates else 0.0,
        peak_processed=max((r.processed for r in rates), default=0.0),
        peak_failed=max((r.failed for r in rates), default=0.0),
    )
