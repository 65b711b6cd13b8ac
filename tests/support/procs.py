"""Waiting on conditions, the started ``resqued`` command, and the process table."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


def wait_for(cond: Callable[[], object], timeout: float = 15.0, what: str = "condition") -> object:
    """Poll ``cond`` until it returns something truthy; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(delay)  # polling step inside a deadline, not a bare sleep
        delay = min(delay * 2, 0.1)


class Proc:
    """A started ``resqued`` command: its Popen, its log file, and helpers to signal it."""

    def __init__(self, popen: subprocess.Popen, log: Path) -> None:
        self.popen = popen
        self.log = log
        self.pid = popen.pid

    def signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait(self, timeout: float = 20.0) -> int:
        return self.popen.wait(timeout)

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(10)


def ps() -> list[tuple[int, int, str]]:
    """(pid, ppid, title) of every process; titles whole (``-ww``: never cut at a width)."""
    out = subprocess.run(
        ["ps", "-A", "-ww", "-o", "pid=,ppid=,args="], capture_output=True, text=True, check=True
    ).stdout
    rows = []
    for line in out.splitlines():
        pid, ppid, args = (line.strip().split(None, 2) + [""])[:3]
        rows.append((int(pid), int(ppid), args))
    return rows


def descendants(root: int) -> list[tuple[int, int, str]]:
    """Every process below ``root`` (not including it), as (pid, ppid, title)."""
    rows = ps()
    found, frontier = [], {root}
    while frontier:
        nxt = {p for p, pp, _ in rows if pp in frontier}
        found += [row for row in rows if row[0] in nxt]
        frontier = nxt
    return found


def titles(pid: int) -> list[str]:
    """The ps titles of ``pid`` and everything below it."""
    return [t for p, _, t in ps() if p == pid] + [t for _, _, t in descendants(pid)]


def dead_pid() -> int:
    """A pid that belonged to a process that has exited."""
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid
