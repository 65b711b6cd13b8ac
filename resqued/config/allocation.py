"""From queue rules and a worker count to the worker table (which worker works what).

Rules, in declaration order, are given to pool workers from the first worker
on: ``queue("high", 20)`` goes to workers 1-20, ``queue("low", "10%")`` of 32
to workers 1-3 (a share rounds down, never below one worker), ``queue("x")``
to all.  A pool worker left with no queue gets ``*``.  Order within a worker
is priority.  Workers declared one by one (``worker(...)``, YAML entries)
come first in the table.
"""

from __future__ import annotations

import math

from resqued.config.model import Config, QueueRule, WorkerRow


def rule_size(rule: QueueRule, pool: int) -> int:
    if rule.count is not None:
        return min(rule.count, pool)
    if rule.share is not None:
        return min(pool, max(1, math.floor(rule.share * pool + 1e-9)))
    return pool


def pool_size(config: Config) -> int:
    if config.worker_processes is not None:
        return config.worker_processes
    return 0 if config.workers or config.config_loader else 1


def worker_table(config: Config) -> list[WorkerRow]:
    """Every worker process the config asks for, in order."""
    size = pool_size(config)
    pool: list[list[str]] = [[] for _ in range(size)]
    for rule in config.queue_rules:
        for queues in pool[: rule_size(rule, size)]:
            if rule.name not in queues:
                queues.append(rule.name)
    slots = list(config.workers)
    interval = config.compat.pool_interval  # worker_pool(N, interval=...), Ruby resqued's
    interval = config.interval if interval is None else interval
    slots += [WorkerRow(tuple(q or ["*"]), interval) for q in pool]
    return slots


def format_table(slots: list[WorkerRow]) -> str:
    """The numbered table ``--test`` prints."""
    width = len(str(len(slots))) if slots else 1
    lines = [f"{'#'.rjust(width)}  queues"]
    lines += [f"{str(i).rjust(width)}  {slot.queue_list}" for i, slot in enumerate(slots, 1)]
    lines.append(f"{len(slots)} worker{'s' if len(slots) != 1 else ''}")
    return "\n".join(lines)
