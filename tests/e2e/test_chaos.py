"""The fault matrix (``pytest -m chaos -s``): 20,000 jobs through kills, reloads and re-execs.

Workers, job children, listeners and the master are killed with SIGKILL, the
whole tree is killed and restarted at once, the master is reloaded (HUP x3) and
re-executed (USR2 x2) while a producer keeps enqueueing.  At the end every job
must be completed (once), in ``failed``, or still queued; none lost; none left
in a dead worker's ``worker:<id>`` or hand-over list 10 s after the last fault;
and the workers never exceed the configured count.  The table is printed.
"""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from pathlib import Path

import pytest
import redis
from support.procs import descendants, ps, wait_for

from resqued.process.proc import alive

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(1800)]

JOBS = 20_000
WORKERS = 4

APP = """
import os, random, time, redis, resqued
r = redis.Redis.from_url(os.environ["REDIS_URL"])

@resqued.job("Chaos")
class Chaos:
    queue = "chaos"

    @staticmethod
    def perform(i):
        if i % 50 == 0:
            time.sleep(random.uniform(0, 0.05))  # some jobs are in flight when a kill lands
        r.rpush("ran", i)
"""


def family(master: int) -> list[tuple[int, int, str]]:
    return descendants(master)


def workers_of(master: int) -> list[int]:
    rows = ps()
    listeners = {p for p, pp, t in rows if pp == master and " listener #" in t}
    return [p for p, pp, t in rows if pp in listeners and t.startswith("resque-")]


def job_children(master: int) -> list[int]:
    return [p for p, _, t in family(master) if "Processing" in t]


class Producer(threading.Thread):
    def __init__(self, r: redis.Redis, total: int) -> None:
        super().__init__(daemon=True)
        self.r, self.total, self.sent = r, total, 0

    def run(self) -> None:
        while self.sent < self.total:
            pipe = self.r.pipeline(transaction=False)
            pipe.sadd("resque:queues", "chaos")
            batch = range(self.sent, min(self.total, self.sent + 100))
            for i in batch:
                pipe.rpush("resque:queue:chaos", json.dumps({"class": "Chaos", "args": [i]}))
            pipe.execute()
            self.sent += len(batch)
            time.sleep(0.02)  # ~5,000 jobs/s offered: faster than 4 workers drain


class Peak(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.masters: list[int] = []
        self.peak = 0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(0.05):
            n = sum(len(workers_of(m)) for m in list(self.masters) if alive(m))
            self.peak = max(self.peak, n)


def limbo(r: redis.Redis) -> int:
    """Jobs held by a dead worker: in a worker:<id> of an unregistered worker, or a hand-over list."""
    live = {w.decode() for w in r.smembers("resque:workers")}
    held = 0
    for key in r.scan_iter("resque:worker:*"):
        k = key.decode()
        if k.endswith(":started"):
            continue
        if k[len("resque:worker:") :] not in live:
            held += 1
    for key in r.scan_iter("resque:resqued:inflight:*"):
        held += r.llen(key)
    return held


def test_fault_matrix(resqued, app_dir: Path, r: redis.Redis, tmp_path: Path) -> None:
    (app_dir / "chaos_jobs.py").write_text(APP)
    conf = app_dir / "conf.py"
    conf.write_text(f"worker_processes({WORKERS})\nqueue('chaos')\ninterval(1)\n")
    pid_path = tmp_path / "chaos.pid"

    def start():
        m = resqued("-c", str(conf), "-r", "chaos_jobs", "-p", str(pid_path), cwd=app_dir)
        wait_for(lambda: len(workers_of(m.pid)) == WORKERS, 30, "workers up")
        peak.masters.append(m.pid)
        return m

    rnd = random.Random(7)
    peak = Peak()
    peak.start()
    m = start()
    producer = Producer(r, JOBS)
    producer.start()
    faults: list[str] = []

    def progress() -> int:
        return r.llen("ran")

    def at(n: int) -> None:
        wait_for(lambda: progress() >= n, 120, f"{n} jobs run")

    at(500)
    for step in range(6):
        victims = workers_of(m.pid)
        if hit(rnd.choice(victims)):
            faults.append("worker SIGKILL")
        at(progress() + 300)
        children = job_children(m.pid)
        if children:
            if hit(rnd.choice(children)):  # a no-op job's child may be gone already
                faults.append("job child SIGKILL")
        if step in (1, 3, 5):
            m.signal(signal.SIGHUP)
            faults.append("HUP")
            ready = 2 + step // 2
            wait_for(lambda ready=ready: m.output().count("is ready") >= ready, 30, "reload")
        at(progress() + 300)
    for n in (1, 2):
        m.signal(signal.SIGUSR2)
        faults.append("USR2")
        wait_for(lambda n=n: m.output().count("took over") >= n, 60, f"re-exec {n}")
        at(progress() + 300)
    listeners = [p for p, pp, t in ps() if pp == m.pid and " listener #" in t]
    os.kill(listeners[0], signal.SIGKILL)
    faults.append("listener SIGKILL")
    wait_for(lambda: len(workers_of(m.pid)) == WORKERS, 30, "a new listener's workers")
    at(progress() + 500)
    # The whole tree at once, then a restart right away.
    tree = [m.pid] + [p for p, _, _ in family(m.pid)]
    for pid in tree:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    faults.append("whole tree SIGKILL + restart")
    wait_for(lambda: not any(alive(p) for p in tree), 10, "the tree is gone")
    m = start()
    at(progress() + 500)
    os.kill(m.pid, signal.SIGKILL)  # the master alone: its workers finish and exit
    faults.append("master SIGKILL + restart")
    m = start()
    producer.join()
    last_fault = time.monotonic()

    def drained() -> bool:
        return r.llen("resque:queue:chaos") == 0 and not any(
            r.exists(f"resque:worker:{w.decode()}") for w in r.smembers("resque:workers")
        )

    wait_for(drained, 180, "the queue drained")
    wait_for(lambda: time.monotonic() - last_fault >= 10, 20, "10 s after the last fault")
    in_limbo = limbo(r)
    peak.halt.set()
    peak.join()
    m.signal(signal.SIGQUIT)
    assert m.wait(60) == 0

    ran = [int(x) for x in r.lrange("ran", 0, -1)]
    counts: dict[int, int] = {}
    for i in ran:
        counts[i] = counts.get(i, 0) + 1
    failed_ids = set()
    for raw in r.lrange("resque:failed", 0, -1):
        args = json.loads(raw)["payload"].get("args") or []
        if args and isinstance(args[0], int):
            failed_ids.add(args[0])
    queued = {json.loads(x)["args"][0] for x in r.lrange("resque:queue:chaos", 0, -1)}
    once = sum(1 for i in range(JOBS) if counts.get(i) == 1)
    twice = sum(1 for i in range(JOBS) if counts.get(i, 0) >= 2)
    failed_not_run = sum(1 for i in failed_ids if i not in counts)
    failed_and_ran = sum(1 for i in failed_ids if i in counts)
    lost = sum(
        1 for i in range(JOBS) if i not in counts and i not in failed_ids and i not in queued
    )
    rows = [
        ("jobs enqueued", JOBS),
        ("completed once", once),
        ("completed twice or more", twice),
        ("failed (never completed)", failed_not_run),
        ("failed after completing (killed before recording)", failed_and_ran),
        ("still queued", len(queued)),
        ("lost", lost),
        ("in limbo 10 s after the last fault", in_limbo),
        ("peak workers / configured", f"{peak.peak} / {WORKERS}"),
    ]
    table = "\n".join(
        ["| fault matrix | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows),
         f"\nfaults: {', '.join(faults)}"]
    )  # fmt: skip
    print("\n" + table)
    (tmp_path / "chaos-table.md").write_text(table)
    assert lost == 0 and in_limbo == 0 and twice == 0
    assert peak.peak <= WORKERS


def hit(pid: int) -> bool:
    """SIGKILL one of the tree's processes, listed a moment ago; False if it had exited."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True
