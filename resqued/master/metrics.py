"""The master's Prometheus endpoint (off by default; ``--metrics ADDR:PORT`` or ``metrics()``).

Served from a thread of the master with the official ``prometheus-client``
(the ``metrics`` extra).  Everything comes from the master's memory (jobs and
workers reported by the listeners through their scoreboards, replacements,
reloads) except the queue depths and the delayed queue, read from Redis at scrape time; so a job
costs nothing more on its hot path, and counts survive worker recycling,
reloads and USR2.  The list of metrics is in docs/operations.md.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from resqued.config.values import parse_bind
from resqued.errors import ResquedError
from resqued.fleet.scheduler import Mover, read_mover
from resqued.master.job_stats import JobStats
from resqued.master.listeners import Listeners
from resqued.master.registry import Registration
from resqued.scoreboard import BUCKETS

log = logging.getLogger("resqued")


class Measured(Protocol):
    """What the endpoint reads of the master (resqued/master/loop.py), from its thread."""

    @property
    def listeners(self) -> Listeners: ...
    @property
    def job_stats(self) -> JobStats: ...
    @property
    def replacements(self) -> collections.Counter[str]: ...
    @property
    def reloads(self) -> collections.Counter[str]: ...
    @property
    def registration(self) -> Registration | None: ...


class Collector:
    """Builds the metric families from the master's state at each scrape."""

    def __init__(
        self,
        master: Measured,
        depths: Callable[[], dict[str, int]],
        mover: Callable[[], Mover | None] = lambda: None,
    ) -> None:
        self.master = master
        self.depths = depths
        self.mover = mover

    def describe(self) -> list[Any]:
        return []  # families are built at scrape time (unchecked collector)

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        m = self.master
        processed = CounterMetricFamily(
            "resqued_jobs_processed",
            "Jobs finished (failed ones included)",
            labels=["queue", "class"],
        )
        failed = CounterMetricFamily(
            "resqued_jobs_failed", "Jobs recorded in failed", labels=["queue", "class"]
        )
        duration = HistogramMetricFamily(
            "resqued_job_duration_seconds", "Job run time", labels=["queue", "class"]
        )
        live = [li.stats for li in m.listeners.listeners]
        for (queue, cls), row in sorted(m.job_stats.totals(live).items()):
            jobs, fails, seconds, *cumulative = row
            processed.add_metric([queue, cls], jobs)
            failed.add_metric([queue, cls], fails)
            buckets = [(f"{b:g}", c) for b, c in zip(BUCKETS, cumulative, strict=True)]
            duration.add_metric([queue, cls], [*buckets, ("+Inf", jobs)], seconds)
        yield processed
        yield failed
        yield duration
        workers = GaugeMetricFamily("resqued_workers", "Workers by state", labels=["state"])
        states = m.job_stats.workers(live)
        for state in ("starting", "waiting", "working", "paused", "stopping"):
            workers.add_metric([state], states.get(state, 0))
        yield workers
        replaced = CounterMetricFamily(
            "resqued_worker_replacements", "Workers that went away, by reason", labels=["reason"]
        )
        for reason, n in sorted(m.replacements.items()):
            replaced.add_metric([reason], n)
        yield replaced
        yield GaugeMetricFamily(
            "resqued_listener_generation", "Listeners started so far", value=m.listeners.generation
        )
        reloads = CounterMetricFamily("resqued_reloads", "Reloads by outcome", labels=["outcome"])
        for outcome in ("ok", "failed"):
            reloads.add_metric([outcome], m.reloads.get(outcome, 0))
        yield reloads
        try:
            depth = self.depths()
        except Exception as exc:  # Redis down: the rest of the page is still true
            log.debug("metrics: no queue depths: %s", exc)
            depth = {}
        queues = GaugeMetricFamily("resqued_queue_depth", "Jobs waiting", labels=["queue"])
        for queue, n in sorted(depth.items()):
            queues.add_metric([queue], n)
        yield queues
        yield from self._delayed(GaugeMetricFamily)

    def _delayed(self, gauge: Any) -> Iterator[Any]:
        """The delayed queue and its mover (``fleet/scheduler.py``), read at scrape time."""
        try:
            mover = self.mover()
        except Exception as exc:  # Redis down
            log.debug("metrics: no delayed queue: %s", exc)
            return
        if mover is None:
            return
        yield gauge("resqued_delayed_jobs", "Jobs in the delayed queue", value=mover.delayed)
        yield gauge(
            "resqued_delayed_jobs_due", "Delayed jobs due and not moved yet", value=mover.due
        )
        yield gauge(
            "resqued_scheduler_lag_seconds",
            "How late the earliest due delayed job is (0: none due)",
            value=mover.lag,
        )
        yield gauge(
            "resqued_scheduler_lock_held",
            "1 when a mover holds resque-scheduler's lock",
            value=1 if mover.holder else 0,
        )


def queue_depths(master: Measured) -> dict[str, int]:
    """Every queue's length, in one round trip (on the master's registration connection)."""
    if master.registration is None:
        return {}
    store = master.registration.store
    names = sorted(store.queue_names())
    pipe = store.redis.pipeline(transaction=False)
    for name in names:
        pipe.llen(store.keys.queue(name))
    return dict(zip(names, pipe.execute(), strict=True))


def mover_state(master: Measured) -> Mover | None:
    """The delayed queue's counts and the mover's lag (two bounded round trips)."""
    if master.registration is None:
        return None
    store = master.registration.store
    return read_mover(store, store.server_time())


def serve(master: Measured, bind: str) -> Any:
    """Start the endpoint in a thread; the server, to ``shutdown()``. ResquedError if it can't."""
    try:
        from prometheus_client import CollectorRegistry, start_http_server
    except ImportError:
        raise ResquedError(
            "--metrics needs prometheus-client: pip install 'resqued[metrics]'"
        ) from None
    host, port = parse_bind(bind, "metrics address")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collector(master, lambda: queue_depths(master), lambda: mover_state(master)))
    try:
        server, _ = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise ResquedError(f"metrics: cannot listen on {host}:{port}: {exc.strerror}") from None
    log.info("metrics on http://%s:%d/metrics", host, port)
    return server
