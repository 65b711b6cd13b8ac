"""Processing gap and peak worker count during a HUP reload and a USR2 re-exec, under load.

.venv/bin/python bench/deploy_gap.py [--workers 8] [--rate 400] [--phase 6]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import threading
import time
from pathlib import Path

from _common import redis_server, spawn, stop, table, wait_until

JOB = """
import os, time, redis, resqued
r = redis.Redis.from_url(os.environ["REDIS_URL"])

@resqued.job("Tick")
class Tick:
    @staticmethod
    def perform(i):
        time.sleep(0.005)
        r.rpush("done", f"{i} {time.time()}")
"""


def worker_pids(master: int) -> list[int]:
    """Worker processes: children of the master's listeners (job children excluded)."""
    out = subprocess.run(["ps", "-A", "-o", "pid=,ppid=,args="], capture_output=True, text=True)
    rows = []
    for line in out.stdout.splitlines():
        pid, ppid, title = (line.strip().split(None, 2) + [""])[:3]
        rows.append((int(pid), int(ppid), title))
    listeners = {p for p, pp, t in rows if pp == master and " listener #" in t}
    return [p for p, pp, t in rows if pp in listeners and t.startswith("resque-")]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--rate", type=float, default=400.0, help="jobs enqueued per second")
    p.add_argument("--phase", type=float, default=6.0, help="seconds between events")
    args = p.parse_args()
    with redis_server() as (client, url, tmp):
        (tmp / "tick_jobs.py").write_text(JOB)
        pidfile = tmp / "master.pid"
        master = spawn(
            [
                "-n",
                str(args.workers),
                "-r",
                "tick_jobs",
                "-p",
                str(pidfile),
                "--interval",
                "1",
                "--redis",
                url,
            ],
            tmp,
            url,
        )
        samples: list[tuple[float, int]] = []
        halt = threading.Event()
        sent = [0]

        def produce() -> None:
            producer = client.pipeline(transaction=False)
            while not halt.wait(1 / args.rate):
                producer.sadd("resque:queues", "default")
                producer.rpush(
                    "resque:queue:default", json.dumps({"class": "Tick", "args": [sent[0]]})
                )
                producer.execute()
                sent[0] += 1

        def sample() -> None:
            while not halt.wait(0.02):
                samples.append((time.time(), len(worker_pids(master.pid))))

        try:
            wait_until(lambda: len(worker_pids(master.pid)) == args.workers, 60, "workers")
            threads = [threading.Thread(target=produce), threading.Thread(target=sample)]
            for t in threads:
                t.start()
            time.sleep(args.phase)  # steady phase (a benchmark, not a test)
            events = []
            for sig, name in ((1, "HUP"), (12, "USR2")):
                before = sorted(worker_pids(master.pid))
                events.append((name, time.time(), before))
                master.send_signal(sig)
                time.sleep(args.phase)
            halt.set()
            for t in threads:
                t.join()
            wait_until(lambda: client.llen("done") >= sent[0], 60, "all jobs done")
            after_usr2 = sorted(worker_pids(master.pid))
            same_master = int(Path(pidfile).read_text()) == master.pid
        finally:
            halt.set()
            stop([master])
        done = [line.split() for line in (x.decode() for x in client.lrange("done", 0, -1))]
        ids = sorted(int(i) for i, _ in done)
        times = sorted(float(t) for _, t in done)

        def longest_gap(start: float, end: float) -> float:
            window = [t for t in times if start <= t <= end]
            return max((b - a for a, b in zip(window, window[1:], strict=False)), default=0.0)

        t0 = times[0]
        rows = [
            [
                "steady",
                f"{longest_gap(t0, events[0][1]) * 1000:.0f}",
                max((n for t, n in samples if t < events[0][1]), default=0),
                "",
            ]
        ]
        for name, at, _ in events:
            peak = max((n for t, n in samples if at - 1 <= t <= at + args.phase), default=0)
            rows.append([name, f"{longest_gap(at - 1, at + args.phase) * 1000:.0f}", peak, ""])
        rows[-1][3] = "same workers" if after_usr2 == events[1][2] else "workers changed"
    print(table(["phase", "longest gap between completions (ms)", "peak workers", "note"], rows))
    print(
        f"\njobs enqueued {sent[0]}, completed {len(ids)}, distinct {len(set(ids))}, "
        f"exactly once: {ids == list(range(sent[0]))}; master pid kept on USR2: {same_master}"
    )


if __name__ == "__main__":
    main()
