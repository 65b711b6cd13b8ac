"""Row 10, the scale row: M masters x N workers on one Redis, as a fleet of M hosts runs them.

For each mode (in process, then fork per job): a reference fleet of one
master with 8 workers, then the big one, each measured by
``bench.scale_fleet`` (start, idle Redis, connections, latency, a drain).
The big fleet in process then goes through the deploy storm
(``bench.scale_deploy``) and every operator view at each failed-list size
(``bench.scale_views``), first on a database holding only Resque's keys, then
with ``unrelated_keys`` more (``DEBUG POPULATE``), and a second storm with
them.  Every process is stopped at the end, whatever happens.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import redis

from bench import scale_data, scale_deploy, scale_fleet, scale_rows, scale_views
from bench._common import ERRORS, BenchError, free_port, wait_until
from bench.fleet import Fleet
from bench.redis_cost import Meter
from bench.settings import Context, ScaleSettings
from bench.stats import Row


@dataclass
class Results:
    settings: ScaleSettings
    fleets: dict[str, scale_fleet.Figures] = field(default_factory=dict)  # "big in process"...
    storms: dict[int, scale_deploy.Storm] = field(default_factory=dict)  # by unrelated keys
    views: list[scale_views.View] = field(default_factory=list)
    theirs: dict[int, Any] = field(default_factory=dict)  # failed_views.measure, by keys
    notes: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)  # a part not measured: why


def reset(client: redis.Redis, s: ScaleSettings) -> None:
    """An empty database but for the idle queues."""
    client.flushall()
    scale_data.seed_queues(client, s.queues)


def run(ctx: Context, log: Any) -> list[Row]:
    s, c = ctx.scale, ctx.client
    meter = Meter(c)
    res = Results(s)
    for fork in (False, True) if s.fork else (False,):
        mode = "fork per job" if fork else "in process"
        drain_jobs = s.fork_drain_jobs if fork else s.drain_jobs
        for kind, masters, workers in (("ref", 1, s.ref_workers), ("big", s.masters, s.workers)):
            reset(c, s)
            port = free_port() if kind == "big" and not fork else 0
            fleet = Fleet(ctx.url, ctx.app_dir, masters, workers, fork, metrics_port=port)
            fleet.name = f"{kind}-{'fork' if fork else 'inproc'}"
            log(f"{fleet.name}: starting {masters} x {workers} workers, {mode}")
            fleet.start(c)
            try:
                with part(res, f"{kind} fleet {mode}", log):
                    res.fleets[f"{kind} {mode}"] = scale_fleet.measure(
                        fleet, c, meter, s.idle_s, s.latency_jobs, drain_jobs, log
                    )
                    if kind == "big" and not fork:
                        _storms_and_views(ctx, fleet, meter, res, log)
            finally:
                scale_data.unpopulate(c)  # a fleet stops fast only without them (SCAN per exit)
                fleet.stop()
    ctx.partial.update(res.failures)
    return scale_rows.rows(res, ctx)


@contextmanager
def part(res: Results, name: str, log: Any) -> Iterator[None]:
    """A part of the row that may fail alone: the others are still measured and reported."""
    try:
        yield
    except ERRORS as exc:
        res.failures[name] = f"{type(exc).__name__}: {exc}"
        log(f"{name}: not measured: {exc}")


def _storms_and_views(ctx: Context, fleet: Fleet, meter: Meter, res: Results, log: Any) -> None:
    s, c = ctx.scale, ctx.client
    for keys in (0, s.unrelated_keys):
        if keys:
            how = scale_data.populate(c, keys)
            log(f"{keys:,} unrelated keys added ({how}); the database holds {c.dbsize():,} keys")
        with part(res, f"views, {keys:,} unrelated keys", log):
            res.views += _views(ctx, fleet, res, keys, log)
        with part(res, f"deploy storm, {keys:,} unrelated keys", log):
            _storm(ctx, fleet, meter, res, keys, log)


def _storm(ctx: Context, fleet: Fleet, meter: Meter, res: Results, keys: int, log: Any) -> None:
    s, c = ctx.scale, ctx.client
    storm = scale_deploy.run(
        fleet, c, meter, s.deploy_rate, s.deploy_steady_s, s.deploy_settle_s, s.deploy_usr2_s, log
    )
    res.storms[keys] = storm
    if not storm.settled:
        scale_data.unpopulate(c)  # let the hand-over finish before going on
        log(f"deploy: the HUP did not settle in {s.deploy_settle_s:g} s; waiting for it")
        wait_until(
            lambda: len(fleet.worker_pids()) == fleet.expected,
            600,
            "the fleet after the HUP",
            step=1.0,
        )
        with_keys = f" with {keys:,} unrelated keys" if keys else ""
        res.notes.append(
            f"the HUP{with_keys} did not settle within {s.deploy_settle_s:g} s"
            + ("; the keys were removed to let it end" if keys else "")
        )


def _views(ctx: Context, fleet: Fleet, res: Results, keys: int, log: Any) -> list[scale_views.View]:
    s, c = ctx.scale, ctx.client
    theirs = scale_views.theirs()
    out: list[scale_views.View] = []
    with scale_views.Views(c, ctx.url, ctx.app_dir, fleet.metrics_port) as views:
        idle = views.baseline()
        log(f"views: idle fleet costs Redis {100 * idle.cpu_s / idle.seconds:.2f}% of a core")
        for size in s.failed_sizes:
            scale_data.fill_failed(c, size)
            found = views.measure_all(size, keys, failed=theirs is None)
            bad = [v.name for v in found if not v.ok]
            if bad:
                raise BenchError(f"views at {size:,} failed records: {', '.join(bad)} failed")
            out += found
            slowest = max(found, key=lambda v: v.wall_ms)
            log(
                f"views at {size:,} failed records, {keys:,} unrelated keys: slowest "
                f"{slowest.name} {slowest.wall_ms:,.0f} ms"
            )
        if theirs is not None:
            rows = theirs.measure(ctx.url, list(s.failed_sizes))
            res.theirs[keys] = rows
            out += scale_views.adopt(rows, keys, idle)
            log(f"views: bench.failed_views measured {len(rows)} failed views")
    c.unlink(scale_data.FAILED)
    return out
