"""Live worker processes of a master, read from /proc, and a thread that keeps their peak.

A worker is a live (not zombie) child of one of the master's listeners; a job
child (a worker's child) is not a worker.  A worker whose listener died is
reparented away from the tree: the sampler keeps counting every worker it has
seen until that process (same pid, same start time) is gone.  Reading /proc
directly (no ``ps``) makes one sample cost a few milliseconds, so a sampler
sees short overlaps.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable

Table = dict[int, tuple[int, str, int]]  # pid -> (parent pid, state letter, start time)


def process_table() -> Table:
    """Every process /proc shows now."""
    table: Table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rpartition(b")")[2].split()
        except OSError:
            continue  # gone meanwhile
        table[int(name)] = (int(fields[1]), fields[0].decode(), int(fields[19]))
    return table


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def listeners_of(master: int, table: Table) -> list[int]:
    """The master's listener processes (``python -m resqued.listener``, or titled so)."""
    return [
        pid
        for pid, (ppid, state, _) in table.items()
        if ppid == master and state != "Z" and "listener" in _cmdline(pid)
    ]


def workers_by_listener(master: int, table: Table | None = None) -> dict[int, list[int]]:
    """listener pid -> its live worker pids, now."""
    table = process_table() if table is None else table
    out: dict[int, list[int]] = {li: [] for li in listeners_of(master, table)}
    for pid, (ppid, state, _) in table.items():
        if ppid in out and state != "Z":
            out[ppid].append(pid)
    return out


def live_workers(masters: Iterable[int]) -> int:
    table = process_table()
    return sum(len(w) for m in masters for w in workers_by_listener(m, table).values())


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
        self.halt = threading.Event()

    def sample(self) -> int:
        table = process_table()
        for master in list(self.masters):
            for listener, pids in workers_by_listener(master, table).items():
                for pid in pids:
                    self.seen.setdefault(pid, listener)
                    self.started.setdefault(pid, table[pid][2])
        for pid, start in list(self.started.items()):
            row = table.get(pid)
            if row is None or row[1] == "Z" or row[2] != start:
                del self.started[pid]  # exited (an orphan too), or the pid was reused
        return len(self.started)

    def run(self) -> None:
        while not self.halt.wait(self.every):
            n = self.sample()
            self.samples += 1
            self.peak = max(self.peak, n)
            self.over += n > self.limit

    def stop(self) -> None:
        self.halt.set()
        self.join(10)
