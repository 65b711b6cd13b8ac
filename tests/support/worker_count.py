"""Live worker processes of a master, read from /proc, and a thread that keeps their peak.

A worker is a live (not zombie) child of one of the master's listeners titled
as a Resque worker (``resque-<ver>: ...``, the first thing a new worker sets);
a job child (a worker's child) and the listener's prune process are not
workers.  A worker whose listener died is
reparented away from the tree: the sampler keeps counting every worker it has
seen until that process (same pid, same start time) is gone.  Reading only the
tree's own entries in /proc (``task/*/children``; no ``ps``, no scan of every
process) makes one sample cost well under a millisecond, so a sampler sees
short overlaps.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

from bench._common import children

Stat = tuple[int, str, int]  # (parent pid, state letter, start time)


def stat(pid: int) -> Stat | None:
    """A process's parent, state and start time; None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rpartition(b")")[2].split()
    except OSError:
        return None
    return int(fields[1]), fields[0].decode(), int(fields[19])


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _live(pid: int) -> bool:
    row = stat(pid)
    return row is not None and row[1] != "Z"


def workers_by_listener(master: int) -> dict[int, list[int]]:
    """listener pid -> its live worker pids, now (``python -m resqued.listener``, or titled so)."""
    listeners = [p for p in children(master) if _live(p) and "listener" in _cmdline(p)]
    return {
        li: [w for w in children(li) if _live(w) and _cmdline(w).startswith("resque-")]
        for li in listeners
    }


def live_workers(masters: Iterable[int]) -> int:
    return sum(len(w) for m in masters for w in workers_by_listener(m).values())


class Peak(threading.Thread):
    """Samples the live workers of ``masters`` every ``every`` seconds; keeps the peak.

    ``samples`` counts the samples taken and ``over`` the ones above ``limit``, so a
    test can say how often it looked and what it saw; ``seen`` maps every worker pid
    seen to its first listener.
    """

    def __init__(self, masters: list[int], limit: int, every: float = 0.005) -> None:
        super().__init__(daemon=True)
        self.masters = masters
        self.limit = limit
        self.every = every
        self.peak = 0
        self.samples = 0
        self.over = 0
        self.seen: dict[int, int] = {}
        self.started: dict[int, int] = {}  # pid -> start time, of workers seen and alive
        self.overs: list[str] = []  # the first samples above the limit: when, and which pids
        self.halt = threading.Event()

    def sample(self) -> int:
        for master in list(self.masters):
            for listener, pids in workers_by_listener(master).items():
                for pid in pids:
                    self.seen.setdefault(pid, listener)
                    if pid not in self.started and (row := stat(pid)) is not None:
                        self.started[pid] = row[2]
        for pid, start in list(self.started.items()):
            row = stat(pid)
            if row is None or row[1] == "Z" or row[2] != start:
                del self.started[pid]  # exited (an orphan too), or the pid was reused
        return len(self.started)

    def run(self) -> None:
        while not self.halt.wait(self.every):
            n = self.sample()
            self.samples += 1
            self.peak = max(self.peak, n)
            if n > self.limit:
                self.over += 1
                if len(self.overs) < 5:
                    at = time.strftime("%H:%M:%S", time.localtime()) + f".{time.time() % 1:.3f}"[2:]
                    pids = sorted(self.started)
                    self.overs.append(f"{at} {n} workers: {pids}")

    def stop(self) -> None:
        self.halt.set()
        self.join(10)
