"""Start-up time and memory of 32 workers: preloaded and forked by resqued vs 32 cold processes.

.venv/bin/python bench/manager.py [--workers 32] [--app-mb 80]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import time
from pathlib import Path

from _common import redis_server, spawn, stop, table, wait_until

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


def tree(root: int) -> list[int]:
    """``root`` and every descendant pid."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            parents.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += parents.get(pid, [])
    return out


def memory(pids: list[int]) -> tuple[float, float]:
    """Total PSS and total USS (private) in MB."""
    pss = uss = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                key, _, value = line.partition(":")
                if key == "Pss":
                    pss += int(value.split()[0])
                elif key in ("Private_Clean", "Private_Dirty"):
                    uss += int(value.split()[0])
        except OSError:
            continue
    return pss / 1024, uss / 1024


def settle(client, n: int) -> None:  # type: ignore[no-untyped-def]
    """Wait until ``n`` workers are registered and idle (none working) for a moment."""
    wait_until(lambda: client.scard("resque:workers") == n, 120, f"{n} workers")
    time.sleep(1.0)  # benchmark settle time so the workers reach their idle wait


def scenario(
    client, url: str, tmp: Path, name: str, args: list[str], n: int, cold: bool
) -> list[object]:  # type: ignore[no-untyped-def]
    client.flushall()
    t0 = time.monotonic()
    if cold:
        procs = [
            spawn(["work", "-q", "*", "-r", "bench_app", "-i", "5"], tmp, url) for _ in range(n)
        ]
    else:
        procs = [spawn([*args, "-n", str(n), "-r", "bench_app", "--interval", "5"], tmp, url)]
    try:
        ready = wait_until(lambda: client.scard("resque:workers") >= n, 180, f"{n} workers")
        settle(client, n)
        pids = [pid for p in procs for pid in tree(p.pid)]
        pss, uss = memory(pids)
    finally:
        stop(procs, signal.SIGQUIT if not cold else signal.SIGTERM)
    return [name, f"{ready - t0:.2f}", f"{pss:.0f}", f"{pss / n:.1f}", f"{uss / n:.1f}"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=32)
    p.add_argument("--app-mb", type=int, default=80)
    args = p.parse_args()
    n = args.workers
    rows = []
    with redis_server() as (client, url, tmp):
        (tmp / "bench_app.py").write_text(APP.format(mb=args.app_mb, n=args.app_mb * 2000))
        probe = subprocess.run(
            [
                os.sys.executable,
                "-c",
                "import bench_app, os; print(open(f'/proc/{os.getpid()}"
                "/smaps_rollup').read().split('Rss:')[1].split()[0])",
            ],
            cwd=tmp,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(tmp)},
        )
        print(f"app process RSS: {int(probe.stdout.strip() or 0) / 1024:.0f} MB")
        for name, margs, cold in (
            ("resqued preload, fork per job", [], False),
            ("resqued preload, in-process", ["--no-fork"], False),
            (f"{n} cold `resqued work` processes", [], True),
        ):
            rows.append(scenario(client, url, tmp, name, margs, n, cold))
            print(f"  {rows[-1][0]}: {rows[-1][1]} s", flush=True)
    print()
    print(
        table(
            [
                "scenario",
                f"start to {n} registered (s)",
                "total PSS (MB)",
                "PSS/worker (MB)",
                "USS/worker (MB)",
            ],
            rows,
        )
    )
    cold, warm = rows[-1], rows[0]
    print(
        f"\npreload vs cold: {float(cold[1]) / float(warm[1]):.1f}x faster start, "
        f"{float(cold[2]) / float(warm[2]):.1f}x less memory (PSS)"
    )


if __name__ == "__main__":
    main()
