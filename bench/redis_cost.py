"""What a stretch of time cost Redis: commands by name, CPU, and every call over 10 ms.

``Meter`` turns on Redis's slow log at ``SLOW_US`` (10 ms), then each
``measure()`` block takes ``INFO cpu commandstats`` at both ends and reads the
slow log after it: commands by name (those a Lua script runs included), CPU
(``used_cpu_sys + used_cpu_user`` of redis-server), and the calls that took
longer than 10 ms.  The opening ``INFO`` is counted in the closing one and
subtracted; ``SLOWLOG RESET`` runs before the window, ``SLOWLOG GET`` after.

A fleet that idles on the same Redis adds its own commands and CPU to any
window: ``Cost.net(idle)`` takes away what an idle window of the same length
cost (by command name, clamped at zero), the share of a view that is its own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import redis

SLOW_US = 10_000
OWN = {"info", "slowlog|reset", "slowlog|get", "config|set", "config|get"}


@dataclass
class Cost:
    seconds: float = 0.0
    commands: dict[str, int] = field(default_factory=dict)
    cpu_s: float = 0.0
    slow: list[tuple[str, int]] = field(default_factory=list)  # (command, microseconds)

    @property
    def calls(self) -> int:
        return sum(self.commands.values())

    @property
    def slowest_ms(self) -> float:
        return max((us for _, us in self.slow), default=0) / 1000

    def per_second(self) -> tuple[dict[str, float], float]:
        """Commands by name and CPU seconds, per second of this window."""
        s = max(self.seconds, 1e-9)
        return {k: v / s for k, v in self.commands.items()}, self.cpu_s / s

    def net(self, idle: Cost | None) -> Cost:
        """This window without what an idle window of the same length cost."""
        if idle is None or idle.seconds <= 0:
            return self
        rates, cpu = idle.per_second()
        commands = {
            k: max(0, round(v - rates.get(k, 0.0) * self.seconds)) for k, v in self.commands.items()
        }
        return Cost(
            self.seconds,
            {k: v for k, v in commands.items() if v},
            max(0.0, self.cpu_s - cpu * self.seconds),
            self.slow,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 4),
            "commands": self.calls,
            "cpu_ms": round(self.cpu_s * 1000, 2),
            "slow_calls": len(self.slow),
            "slowest_ms": round(self.slowest_ms, 2),
            "slow": [f"{name} {us / 1000:.1f} ms" for name, us in self.slow[:10]],
            "by_name": dict(sorted(self.commands.items(), key=lambda kv: -kv[1])[:15]),
        }


def _snapshot(client: redis.Redis) -> tuple[dict[str, int], float]:
    info: dict[str, Any] = client.info("cpu", "commandstats")
    calls = {
        k.removeprefix("cmdstat_"): int(v["calls"])
        for k, v in info.items()
        if k.startswith("cmdstat_")
    }
    return calls, float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


class Meter:
    """Measures windows of time on one Redis (the slow log at 10 ms while it is in use)."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        client.config_set("slowlog-log-slower-than", SLOW_US)
        client.config_set("slowlog-max-len", 1024)

    @contextmanager
    def measure(self) -> Iterator[Cost]:
        """The cost of the block, filled in when it ends."""
        out = Cost()
        self.client.slowlog_reset()
        calls0, cpu0 = _snapshot(self.client)
        t0 = time.monotonic()
        yield out
        out.seconds = time.monotonic() - t0
        calls1, cpu1 = _snapshot(self.client)
        delta = {k: v - calls0.get(k, 0) for k, v in calls1.items() if k not in OWN}
        delta["info"] = calls1.get("info", 0) - calls0.get("info", 0) - 1
        out.commands = {k: v for k, v in delta.items() if v > 0}
        out.cpu_s = cpu1 - cpu0
        out.slow = [
            (_command(entry), int(entry["duration"]))
            for entry in self.client.slowlog_get(1024)
            if _command(entry).lower() not in OWN
        ]

    def idle(self, seconds: float) -> Cost:
        """What ``seconds`` of whatever runs now costs (the baseline ``Cost.net`` removes)."""
        with self.measure() as cost:
            time.sleep(seconds)  # benchmark window: measure the fleet alone
        return cost


def _command(entry: dict[str, Any]) -> str:
    words = entry.get("command", b"")
    text = words.decode(errors="replace") if isinstance(words, bytes) else str(words)
    head = text.split()
    if not head:
        return "?"
    name = head[0].lower()
    if name in ("slowlog", "config", "client") and len(head) > 1:
        return f"{name}|{head[1].lower()}"
    return name
