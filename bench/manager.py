"""Row 5: N workers of an app of realistic size, preloaded and forked vs cold processes.

Each round starts, one after the other: ``resqued -n N`` preloading the app;
N cold ``resqued work`` processes that each import it; one cold worker. For
each: the seconds from start to all workers registered in Redis, then, once
idle, the total PSS of every process (``/proc/PID/smaps_rollup``: master and
listener included) and each worker's private memory (Private_Clean +
Private_Dirty).
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import redis

from bench._common import PYTHON, env_for, spawn, stop, title, tree, wait_until
from bench.settings import Context
from bench.stats import Row

APP = """
import resqued

# About {mb} MB of application state, built at import time like a real app's.
ROUTES = [{{"path": f"/item/{{i}}", "name": "item-" + str(i) * 3, "tags": [i, i * 2]}}
          for i in range({n})]
import json, decimal, email.mime.text, http.client, xml.dom.minidom  # noqa: E401,F401


@resqued.job("Noop")
class Noop:
    @staticmethod
    def perform(*args):
        pass
"""
SETTLE = 1.0
BUDGET_MB = 4.0


def rollup(pid: int) -> tuple[int, int]:
    """(PSS, private) of one process in kB; (0, 0) once it is gone."""
    pss = private = 0
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0, 0
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key == "Pss":
            pss = int(value.split()[0])
        elif key in ("Private_Clean", "Private_Dirty"):
            private += int(value.split()[0])
    return pss, private


def breakdown(pid: int) -> dict[str, int]:
    """Private kB of one process by kind of mapping (``/proc/PID/smaps``).

    ``arenas``: anonymous private memory (the interpreter's object arenas, large
    malloc blocks, thread stacks); ``heap``: the brk heap (malloc); ``libpython``:
    the interpreter's own data; ``libraries``: other files' data; ``shared``:
    shared anonymous memory (scoreboards).
    """
    out: dict[str, int] = {}
    kind = "other"
    try:
        text = Path(f"/proc/{pid}/smaps").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        head = line.split(maxsplit=5)
        if len(head) >= 5 and "-" in head[0] and ":" not in head[0]:
            perms, path = head[1], head[5] if len(head) > 5 else ""
            if path in ("[heap]", "[stack]"):
                kind = path[1:-1]
            elif "s" in perms:
                kind = "shared"
            elif "libpython" in path:
                kind = "libpython"
            elif path.startswith("/"):
                kind = "libraries"
            elif not path:
                kind = "arenas"
            else:
                kind = "other"
        elif line.startswith(("Private_Clean:", "Private_Dirty:")):
            out[kind] = out.get(kind, 0) + int(line.split()[1])
    return out


def scenario(client: redis.Redis, url: str, d: Path, n: int, cold: bool) -> dict[str, Any]:
    """Start-up seconds, total PSS (MB) and mean private MB per worker of one scenario."""
    client.flushall()
    t0 = time.monotonic()
    if cold:
        procs = [spawn(["work", "-q", "*", "-r", "bench_app", "-i", "5"], d, url) for _ in range(n)]
    else:
        args = ["-n", str(n), "-r", "bench_app", "--interval", "5", "-p", str(d / "m.pid")]
        procs = [spawn(args, d, url)]
    try:
        up = wait_until(lambda: client.scard("resque:workers") >= n, 300, f"{n} workers")
        time.sleep(SETTLE)  # benchmark settle: workers reach their idle wait before we measure
        pids = [pid for p in procs for pid in tree(p.pid)]
        workers = [pid for pid in pids if title(pid).startswith("resque-")]
        figures = {pid: rollup(pid) for pid in pids}
        kinds = [breakdown(pid) for pid in workers]
    finally:
        stop(procs, signal.SIGTERM if cold else signal.SIGQUIT)
    private = [figures[pid][1] for pid in workers]
    return {
        "start_s": up - t0,
        "pss_mb": sum(pss for pss, _ in figures.values()) / 1024,
        "private_mb_per_worker": sum(private) / len(private) / 1024 if private else 0.0,
        "private_kb_per_worker_by_mapping": {
            k: round(sum(b.get(k, 0) for b in kinds) / len(kinds), 1)
            for k in sorted({k for b in kinds for k in b})
        }
        if kinds
        else {},
        "processes": len(pids),
        "workers": len(workers),
    }


def app_rss_mb(d: Path, url: str) -> float:
    probe = "import bench_app, os; print(open(f'/proc/{os.getpid()}/status').read())"
    out = subprocess.run(
        [PYTHON, "-c", probe], cwd=d, env=env_for(d, url), capture_output=True, text=True
    ).stdout
    kb = next((int(line.split()[1]) for line in out.splitlines() if line.startswith("VmRSS")), 0)
    return kb / 1024


def run(ctx: Context, log: Any) -> list[Row]:
    s = ctx.settings
    n, d, c, url = s.manager_workers, ctx.app_dir, ctx.client, ctx.url
    (d / "bench_app.py").write_text(APP.format(mb=s.app_mb, n=s.app_mb * 2000))
    rss = app_rss_mb(d, url)
    runs: dict[str, list[dict[str, Any]]] = {"preload": [], "cold": [], "one": []}
    for r in range(s.manager_rounds):
        for key, count, is_cold in (("preload", n, False), ("cold", n, True), ("one", 1, True)):
            runs[key].append(scenario(c, url, d, count, is_cold))
            log(f"round {r + 1}: {key} up in {runs[key][-1]['start_s']:.2f} s")
    pre, cold, one = runs["preload"], runs["cold"], runs["one"]
    app = f"an app of about {rss:.0f} MB RSS"
    budget = [o["pss_mb"] + n * BUDGET_MB for o in one]
    extra = {"app_rss_mb": rss, "rounds": runs}
    cold_private = sum(o["private_mb_per_worker"] for o in one) / len(one)
    kinds = [p["private_kb_per_worker_by_mapping"] for p in pre]
    by_mapping = ", ".join(
        f"{k} {sum(b.get(k, 0) for b in kinds) / len(kinds) / 1024:.2f}"
        for k in sorted({k for b in kinds for k in b}, key=lambda k: -kinds[0].get(k, 0))
    )
    return [
        Row(
            "5",
            f"start to {n} workers registered, `resqued -n {n}` preloading {app} (s)",
            "s",
            "lower",
            [p["start_s"] for p in pre],
            f"{n} cold `resqued work` processes",
            [x["start_s"] for x in cold],
            extra=extra,
        ),
        Row(
            "5",
            f"total PSS, {n} preloaded workers with master and listener (MB)",
            "MB",
            "lower",
            [p["pss_mb"] for p in pre],
            f"{n} cold `resqued work` processes",
            [x["pss_mb"] for x in cold],
        ),
        Row(
            "5",
            f"total PSS, {n} preloaded workers vs target (MB)",
            "MB",
            "lower",
            [p["pss_mb"] for p in pre],
            f"target: one cold worker + {n} x {BUDGET_MB:g} MB",
            budget,
            note=f"one cold worker: {sum(o['pss_mb'] for o in one) / len(one):.0f} MB PSS",
        ),
        Row(
            "5",
            "private memory per preloaded worker (MB)",
            "MB",
            "lower",
            [p["private_mb_per_worker"] for p in pre],
            f"{BUDGET_MB:g} MB a worker (the target's share)",
            [BUDGET_MB],
            note=f"a cold worker's private memory: {cold_private:.0f} MB; "
            f"a preloaded worker's by mapping (MB): {by_mapping}",
        ),
    ]
