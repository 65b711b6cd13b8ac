"""Operator views of the failed list at 10k/100k/1M records: time, Redis commands, Redis CPU
and the slowest single Redis call of each.

``measure(url, sizes)`` fills the ``failed`` list of the Redis at ``url`` (namespace
``resque``; the list and the index beside it are deleted first and at the end) with
realistic Ruby Resque failure records, pipelined RPUSH, then runs each view once and
returns rows ``(view, records, seconds, redis_commands, redis_cpu_s, slowest_call_us)``.

- ``seconds``: wall time of the call in this process (the library call the command line
  and the dashboard make; ``failed list --class (command)`` is the whole ``resqued``
  command, Python start-up included);
- ``redis_commands``: calls in ``INFO commandstats`` (commands run by scripts included),
  less the ones this module makes to measure;
- ``redis_cpu_s``: ``used_cpu_sys + used_cpu_user`` of the server;
- ``slowest_call_us``: the longest entry of ``SLOWLOG`` (every call of 100 us or more is
  logged while a view runs; 0: none took 100 us).

With the web extra installed, two rows time the dashboard's failed page in this process
(starlette's test client): a live refresh, and one whose ``<main>`` has not changed (304).

The records: 40 job classes on 8 queues (each class on one queue), 5 exceptions, a
10-line backtrace, 0.5% retried; ``Sparse::Report`` once every 10,000 records (100 at
1M); ``Cleanup::Scattered`` 100 records spread evenly; ``Cleanup::Recent`` 100 records
among the newest 2,000 (a failure storm after a deploy).

Run alone: ``python -m bench.failed_views [SIZE ...]`` starts its own redis-server and
prints a Markdown table.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import redis

from bench._common import PYTHON, ROOT
from resqued.resque.failed import FailedList, FailureFilter
from resqued.resque.store import Store

Row = tuple[str, int, float, int, float, int]
SIZES = (10_000, 100_000, 1_000_000)
SLOWLOG_US = 100
VERBOSE = False  # the slowest call of each view on stderr (python -m bench.failed_views -v)
QUEUES = ["default", "mailers", "billing", "reports", "search", "imports", "webhooks", "low"]
CLASSES = [(f"Jobs::Job{i:02d}", QUEUES[i % len(QUEUES)]) for i in range(40)]
EXCEPTIONS = [
    "RuntimeError",
    "Net::ReadTimeout",
    "ActiveRecord::RecordNotFound",
    "Redis::TimeoutError",
    "ArgumentError",
]
GEMS = ["job", "worker", "worker", "worker", "worker", "worker"]


def failure(i: int, size: int, special: bool = True) -> bytes:
    """Record ``i`` of a list of ``size``, as Ruby's ``Resque::Failure::Redis#save`` writes
    (``special``: the sparse and cleanup classes where they fall)."""
    cls, queue = CLASSES[(i * 7919) % len(CLASSES)]
    if not special:
        pass
    elif i % 10_000 == 4_321:
        cls, queue = "Sparse::Report", "reports"
    elif i % max(1, size // 100) == 17:
        cls, queue = "Cleanup::Scattered", "low"
    elif i >= size - 2_000 and i % 20 == 3:
        cls, queue = "Cleanup::Recent", "low"
    doc: dict[str, Any] = {
        "failed_at": f"2026/12/{1 + i // 86400 % 28:02d} {i // 3600 % 24:02d}:"
        f"{i // 60 % 60:02d}:{i % 60:02d} UTC",
        "payload": {"class": cls, "args": [i, f"account-{i % 5000}", {"attempt": 1}]},
        "exception": EXCEPTIONS[i % len(EXCEPTIONS)],
        "error": f"could not finish item {i}: upstream said no",
        "backtrace": [f"/app/app/jobs/{cls.lower()}.rb:{20 + k}:in `perform'" for k in range(4)]
        + [f"/gems/resque-2.6.0/lib/resque/{f}.rb:{k}:in `perform'" for k, f in enumerate(GEMS)],
        "worker": f"app-{i % 32}:{4000 + i % 97}:{queue}",
        "queue": queue,
    }
    if i % 200 == 11:
        doc["retried_at"] = "2026/12/05 10:00:00"
    return json.dumps(doc, separators=(",", ":")).encode()


def fill(client: redis.Redis, key: str, size: int, start: int = 0) -> None:
    pipe = client.pipeline(transaction=False)
    for lo in range(start, size, 1000):
        pipe.rpush(key, *[failure(i, size) for i in range(lo, min(size, lo + 1000))])
        if len(pipe) >= 20:
            pipe.execute()
    pipe.execute()


class Meter:
    """Redis's counters around one call."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.slowest: dict[str, Any] | None = None  # the SLOWLOG entry of the last call

    def _counters(self) -> tuple[int, float]:
        stats = self.client.info("commandstats")
        cpu = self.client.info("cpu")
        calls = sum(int(v["calls"]) for v in stats.values())
        return calls, float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"])

    def run(self, view: str, size: int, call: Callable[[], object]) -> Row:
        self.client.slowlog_reset()
        calls0, cpu0 = self._counters()
        t0 = time.perf_counter()
        call()
        seconds = time.perf_counter() - t0
        calls1, cpu1 = self._counters()
        log = self.client.slowlog_get(100_000)
        slow = [e["duration"] for e in log]
        # The first pair of INFO is counted by the second (which does not count itself).
        commands = calls1 - calls0 - 2
        self.slowest = max(log, key=lambda e: e["duration"], default=None)
        return (view, size, seconds, commands, round(cpu1 - cpu0, 4), max(slow, default=0))


def _command(url: str, *args: str) -> None:
    out = subprocess.run(
        [PYTHON, "-m", "resqued.cli", "failed", *args, "--redis", url],
        capture_output=True,
        cwd=ROOT,
        check=False,
    )
    if out.returncode:
        raise RuntimeError(out.stderr.decode(errors="replace"))


def measure(url: str, sizes: tuple[int, ...] | list[int] = SIZES) -> list[Row]:
    """Rows (view, records, seconds, redis_commands, redis_cpu_s, slowest_call_us)."""
    store = Store.connect(url)
    client = store.redis
    old = client.config_get("slowlog-*")
    client.config_set("slowlog-log-slower-than", SLOWLOG_US)
    client.config_set("slowlog-max-len", 100_000)
    rows: list[Row] = []
    try:
        for size in sizes:
            rows += _views(url, store, size)
    finally:
        client.config_set("slowlog-log-slower-than", old["slowlog-log-slower-than"])
        client.config_set("slowlog-max-len", old["slowlog-max-len"])
    return rows


def _views(url: str, store: Store, size: int) -> list[Row]:
    """Every view once on a list of ``size`` records (filled here, deleted at the end)."""
    client, key = store.redis, store.keys.failed
    failed = FailedList(store)
    _clear(failed)
    fill(client, key, size)
    meter = Meter(client)
    rows: list[Row] = []

    def view(name: str, call: Callable[[], object]) -> None:
        rows.append(meter.run(name, size, call))
        if VERBOSE and meter.slowest is not None:
            cmd = meter.slowest["command"][:60]
            print(f"  {name}: slowest {meter.slowest['duration']} us {cmd!r}", file=sys.stderr)

    sparse = FailureFilter(class_name="Sparse::Report")
    view("failed list (no filter)", lambda: failed.list(None, 0, 20))
    view("index build (first filtered call)", lambda: failed.index.sync())
    view("failed list --class (sparse)", lambda: failed.list(sparse, 0, 20))
    view("failed list --class (sparse) --start 40", lambda: failed.list(sparse, 40, 20))
    view(
        "failed list --queue (1/8 of all)",
        lambda: failed.list(FailureFilter(queue="mailers"), 0, 20),
    )
    view(
        "failed list --retried (no count, cursor)",
        lambda: failed.list(FailureFilter(retried=True), 0, 20),
    )
    view("count --class (sparse, for a prompt)", lambda: failed.matching(sparse))
    view(
        "failed list --class (command)",
        lambda: _command(url, "list", "--class", "Sparse::Report"),
    )
    dashboard = _dashboard(store)
    if dashboard is not None:
        path = "/failed?class=Sparse::Report"
        live = {"X-Partial": "1", "Accept": "text/html"}
        view("dashboard /failed?class= (live refresh)", lambda: dashboard(path, live))
        etag = dashboard(path, live).headers["etag"]
        view(
            "dashboard /failed?class= (unchanged: 304)",
            lambda: dashboard(path, {**live, "If-None-Match": etag}),
        )
    client.rpush(key, *[failure(i, size, special=False) for i in range(size, size + 1000)])
    view("index sync after 1,000 new records", lambda: failed.index.sync())
    view("retry --class (sparse)", lambda: failed.retry_matching(sparse))
    view(
        "remove --class (100 newest)",
        lambda: failed.remove_matching(FailureFilter(class_name="Cleanup::Recent")),
    )
    view(
        "remove --class (100 spread out)",
        lambda: failed.remove_matching(FailureFilter(class_name="Cleanup::Scattered")),
    )
    client.lset(key, client.llen(key) // 2, b"__ruby_remove__")
    client.lrem(key, 1, b"__ruby_remove__")  # resque-web's Remove in the middle
    view("index sync after a Ruby remove mid-list", lambda: failed.index.sync())
    _clear(failed)
    return rows


def _dashboard(store: Store) -> Callable[[str, dict[str, str]], Any] | None:
    """GET on the dashboard in this process (None without the web extra)."""
    try:
        from starlette.testclient import TestClient

        from resqued.web import create_app
    except ImportError:
        return None
    client = TestClient(create_app(store, None, 3600), base_url="http://127.0.0.1:5678")
    client.get("/failed")  # its CSRF cookie, as a browser has it

    def get(path: str, headers: dict[str, str]) -> Any:
        response = client.get(path, headers=headers)
        if response.status_code not in (200, 304):
            raise RuntimeError(f"GET {path}: {response.status_code}")
        return response

    return get


def _clear(failed: FailedList) -> None:
    """Delete the list and every key of its index."""
    failed.clear()
    failed.index.reset()
    failed.store.redis.delete(failed.index.meta, failed.index.next_key)


def table(rows: list[Row]) -> str:
    out = [
        "| view | records | seconds | Redis commands | Redis CPU s | slowest call us |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for view, size, seconds, commands, cpu, slowest in rows:
        out.append(
            f"| {view} | {size:,} | {seconds:.4f} | {commands:,} | {cpu:.3f} | {slowest:,} |"
        )
    return "\n".join(out)


def main(argv: list[str]) -> int:
    from bench._common import redis_server

    global VERBOSE
    VERBOSE = "-v" in argv
    args = [a for a in argv if a != "-v"]
    sizes = [int(a.replace("_", "").replace(",", "")) for a in args] or list(SIZES)
    with redis_server() as (_client, url, _tmp):
        print(table(measure(url, sizes)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
