"""Every operator view at a given failed-list size, with what each cost Redis.

Views are what an operator runs against the fleet, each as it is used:

- the command line, as a process (its wall time includes starting Python,
  given by the ``resqued --version`` line): ``status``, ``status --json``,
  ``queues``, ``failed list`` without and with a filter, ``failed retry``
  and ``failed remove`` by filter (100 matching records each);
- the dashboard (one ``resqued web``): every page, the failed page filtered,
  and its live refresh (``X-Partial``, with ``If-None-Match`` when the page
  gave an ETag);
- the master's Prometheus endpoint (one scrape).

Each is measured by ``bench.redis_cost.Meter`` (commands, Redis CPU, calls
over 10 ms) net of what the idle fleet costs Redis in the same time.  When
``bench/failed_views.py`` exists (the failed-list tools' own benchmark),
``failed_views.measure(url, sizes)`` measures the failed views instead and its
figures are kept beside these.
"""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from bench._common import PYTHON, env_for, free_port, spawn, stop, text, wait_until
from bench.redis_cost import SLOW_US, Cost, Meter
from bench.scale_data import FAILED

IDLE_BASELINE_S = 10.0
CLI_FAILED = {
    "failed list": ["failed", "list"],
    "failed list --class Rare": ["failed", "list", "--class", "Rare"],
    "failed retry --class RetryMe": ["failed", "retry", "--class", "RetryMe", "--yes"],
    "failed remove --class RemoveMe": ["failed", "remove", "--class", "RemoveMe", "--yes"],
}
CLI = {
    "resqued --version (Python start)": ["--version"],
    "status": ["status"],
    "status --json": ["status", "--json"],
    "queues": ["queues"],
}


@dataclass
class View:
    name: str
    size: int
    keys: int  # unrelated keys in the database
    wall_ms: float
    cost: Cost
    ok: bool
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "view": self.name,
            "failed_records": self.size,
            "unrelated_keys": self.keys,
            "wall_ms": round(self.wall_ms, 1),
            "ok": self.ok,
            "detail": self.detail,
            **self.cost.to_json(),
        }


class Views:
    """The views of one fleet's Redis; ``with Views(...)`` runs the dashboard for them."""

    def __init__(self, client: redis.Redis, url: str, app_dir: Path, metrics_port: int) -> None:
        self.client, self.url, self.app_dir = client, url, app_dir
        self.metrics_port = metrics_port
        self.web_port = free_port()
        self.web: subprocess.Popen[bytes] | None = None
        self.meter = Meter(client)
        self.idle: Cost | None = None

    def __enter__(self) -> Views:
        args = ["web", "--bind", f"127.0.0.1:{self.web_port}", "--redis", self.url]
        self.web = spawn(args, self.app_dir, self.url)
        wait_until(lambda: self._get("/api/fleet.json")[0] == 200, 60, "the dashboard", 0.2)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.web is not None:
            stop([self.web], __import__("signal").SIGTERM, 10)

    def baseline(self) -> Cost:
        """What the idle fleet costs Redis now: taken away from every view's figures."""
        self.idle = self.meter.idle(IDLE_BASELINE_S)
        return self.idle

    def measure_all(self, size: int, keys: int, failed: bool) -> list[View]:
        """Every view once, at the current failed list (``failed``: the failed tools too)."""
        out = [self._cli(name, argv, size, keys) for name, argv in CLI.items()]
        if failed:
            out += [self._cli(name, argv, size, keys) for name, argv in CLI_FAILED.items()]
        worker = sorted(text(w) for w in self.client.smembers("resque:workers"))[:1]
        pages = {
            "dashboard /": "/",
            "dashboard /hosts": "/hosts",
            "dashboard /workers": "/workers",
            "dashboard /workers/ID": f"/workers/{worker[0] if worker else 'none'}",
            "dashboard /queues": "/queues",
            "dashboard /failed": "/failed",
            "dashboard /failed?class=Rare": "/failed?class=Rare",
            "dashboard /failed/N": f"/failed/{int(self.client.llen(FAILED)) // 2}",
            "dashboard /api/fleet.json": "/api/fleet.json",
        }
        etag = ""
        for name, path in pages.items():
            view = self._page(name, path, size, keys)
            out.append(view)
            if path == "/failed?class=Rare":
                etag = view.detail
                refresh = {"X-Partial": "1", **({"If-None-Match": etag} if etag else {})}
                out.append(self._page(f"{name} refresh", path, size, keys, refresh))
        if self.metrics_port:
            url = f"http://127.0.0.1:{self.metrics_port}/metrics"
            out.append(self._timed("metrics scrape", size, keys, lambda: _fetch(url, {})))
        return out

    def _cli(self, name: str, argv: list[str], size: int, keys: int) -> View:
        cmd = [PYTHON, "-m", "resqued.cli", *argv]
        if argv != ["--version"]:
            cmd += ["--redis", self.url]
        env = env_for(self.app_dir, self.url)

        def call() -> tuple[int, str]:
            done = subprocess.run(cmd, env=env, capture_output=True, timeout=600)
            if done.returncode == 0:
                return 200, ""
            err = done.stderr.decode(errors="replace").strip().splitlines()
            return done.returncode, err[-1] if err else ""

        return self._timed(name, size, keys, call)

    def _page(
        self, name: str, path: str, size: int, keys: int, headers: dict[str, str] | None = None
    ) -> View:
        return self._timed(name, size, keys, lambda: self._get(path, headers or {}))

    def _get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
        return _fetch(f"http://127.0.0.1:{self.web_port}{path}", headers or {})

    def _timed(self, name: str, size: int, keys: int, call: Callable[[], tuple[int, str]]) -> View:
        with self.meter.measure() as cost:
            t0 = time.monotonic()
            status, detail = call()
            wall = (time.monotonic() - t0) * 1000
        ok = status in (200, 304)
        detail = detail if ok else f"{status} {detail}"
        return View(name, size, keys, wall, cost.net(self.idle), ok, detail)


def _fetch(url: str, headers: dict[str, str]) -> tuple[int, str]:
    """(HTTP status, the ETag the page gave or ""), the body read in full."""
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            response.read()
            return response.status, response.headers.get("ETag") or ""
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except (urllib.error.URLError, OSError) as exc:
        return 0, str(exc)


def adopt(rows: Any, keys: int, idle: Cost | None) -> list[View]:
    """``failed_views.measure``'s rows (view, records, seconds, commands, Redis CPU s,
    slowest call us) as views, net of the idle fleet like ours; others are kept as they are
    in the JSON only."""
    out = []
    for row in rows if isinstance(rows, list) else []:
        if not (isinstance(row, tuple | list) and len(row) == 6):
            continue
        name, size, seconds, commands, cpu_s, slowest_us = row
        slow = [("?", int(slowest_us))] if slowest_us >= SLOW_US else []
        gross = Cost(float(seconds), {"all": int(commands)}, float(cpu_s), slow)
        rate = sum(idle.commands.values()) / idle.seconds if idle and idle.seconds else 0.0
        net = gross.net(idle)
        net.commands = {"all": max(0, round(int(commands) - rate * float(seconds)))}
        wall = float(seconds) * 1000
        out.append(View(f"{name} (failed_views)", int(size), keys, wall, net, True))
    return out


def theirs() -> Any:
    """``bench.failed_views`` (the failed tools' own benchmark) when it exists, else None."""
    try:
        from bench import failed_views  # type: ignore[attr-defined, unused-ignore]
    except ImportError:
        return None
    return failed_views if hasattr(failed_views, "measure") else None
