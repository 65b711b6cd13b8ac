"""Watching one ``resqued work`` process: where jobs ran, its log, a graceful stop."""

from __future__ import annotations

import signal

from support.jobs import strings
from support.procs import Proc, wait_for


def ran_in(r, key: str = "record") -> list[int]:
    """Pids that ran the ``Record`` jobs (``value:pid`` entries), in order."""
    return [int(x.rsplit(":", 1)[1]) for x in strings(r, key)]


def started_pid(r) -> int:
    """The pid running the first ``Sleep`` job, once it has started."""
    return int(wait_for(lambda: strings(r, "started"), 15, "job started")[0].split(":")[1])


def quit_(w: Proc, timeout: float = 20) -> None:
    """QUIT, and the worker exits with status 0."""
    w.signal(signal.SIGQUIT)
    assert w.wait(timeout) == 0


def outage_lines(w: Proc) -> list[str]:
    """The worker's log lines about Redis being unavailable."""
    return [line for line in w.output().splitlines() if "unavailable" in line]


def events(r, prefix: str = "") -> list[str]:
    """The ``events`` list the hook_jobs app writes, those starting with ``prefix``."""
    return [e for e in strings(r, "events") if e.startswith(prefix)]
