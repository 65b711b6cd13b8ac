"""A chaos scenario under way (tests/e2e/test_chaos.py): its master, Redis and producer, what its
faults do to them, and waiting for the end without failing (a stuck end is a row, not a crash)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import redis

from resqued.process.proc import alive
from support.chaos import QUEUE, Counts, Mix, Producer, records, tally
from support.procs import Proc, descendants, wait_for
from support.worker_count import Peak, live_workers, workers_by_listener


class Run:
    """One scenario under way: its master, its Redis, its jobs; what its faults use."""

    def __init__(
        self, backend, mix: Mix, record: Path, start: Callable[[], Proc], peak: Peak, least: int
    ) -> None:
        self.backend, self.mix, self.record, self.start = backend, mix, record, start
        self.peak = peak
        self.workers_n = peak.limit  # the workers configured
        self.masters: list[Proc] = []  # every master started, the last one running
        self.master = self.restarted()
        self.producer = Producer(backend.client, mix, least=least)
        self.faults: list[str] = []

    def restarted(self) -> Proc:
        m = self.start()
        wait_for(lambda: live_workers([m.pid]) == self.workers_n, 60, "every worker up")
        self.peak.masters.append(m.pid)
        self.masters.append(m)
        return m

    def progress(self) -> int:
        return sum(records(self.record)["done"].values())

    def at(self, n: int, timeout: float = 120) -> None:
        wait_for(lambda: self.progress() >= n, timeout, f"{n} jobs done")

    def later(self, n: int) -> None:
        self.at(self.progress() + n)

    def workers(self) -> list[int]:
        return [p for pids in workers_by_listener(self.master.pid).values() for p in pids]

    def listeners(self) -> list[int]:
        return list(workers_by_listener(self.master.pid))

    def job_children(self) -> list[int]:
        """Processes titled as running a job: job children in fork mode, else workers."""
        return [p for p, _, t in descendants(self.master.pid) if "Processing" in t]

    def hit(self, pid: int, sig: int, what: str) -> None:
        """Signal a process listed a moment ago; a fault only if it was still there."""
        try:
            os.kill(pid, sig)
            self.faults.append(what)
        except ProcessLookupError:
            pass

    def limits_running(self, hog: bool = True) -> None:
        """A slow (and a hog) job at the head of the queue, and one of them started."""
        keys = [self.mix.add(cls) for cls in ("ChaosSlow", "ChaosHog")[: 1 + hog]]
        self.producer.push(keys, front=True)
        wait_for(lambda: any(records(self.record)["start"][k] for k in keys), 30, "a limit job")

    def kill_tree(self, everything: bool) -> None:
        """SIGKILL the master (with ``everything``, all it runs, as a cgroup kill would:
        its tree and the workers of listeners that died before, now outside the tree);
        start a new one once every process of the old one is gone."""
        roots = [self.master.pid, *self.peak.started]
        tree = roots + [p for root in roots for p, _, _ in descendants(root)]
        for pid in tree if everything else tree[:1]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_for(lambda: not any(alive(p) for p in tree), 60, "the old tree to be gone")
        self.master = self.restarted()


def settles(cond: Callable[[], object], timeout: float) -> bool:
    """``cond`` within ``timeout`` (Redis errors count as not yet); False instead of failing."""

    def safe() -> object:
        try:
            return cond()
        except redis.RedisError:
            return False

    try:
        wait_for(safe, timeout, "")
    except AssertionError:
        return False
    return True


def drained(client: redis.Redis, producer: Producer) -> bool:
    """Everything pushed, the queue empty, no worker holding a job."""
    if producer.is_alive() or client.llen(f"resque:queue:{QUEUE}"):
        return False
    if any(client.llen(k) for k in client.scan_iter("resque:resqued:inflight:*")):
        return False
    workers = [w.decode() for w in client.smembers("resque:workers")]
    return not any(client.exists(f"resque:worker:{w}") for w in workers)


def tally_when_up(backend, record: Path, mix: Mix, chaos: set[str]) -> Counts:
    """The tally, once Redis answers (a restarted or promoted server may still be loading)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return tally(backend.reader(), record, mix, chaos)
        except redis.RedisError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)  # retry step until Redis answers
