"""USR2 as the master runs it: the new release's preflight, then the exec with the master's state.

The preflight (``reexec.Preflight``) runs in a process of its own while the
master keeps serving signals; the loop polls it.  When it passes, the state
(listeners, their sockets and workers, the config view) crosses the exec in a
memfd (``reexec.exec_with_state``); the new image adopts it with ``restore``.
"""

from __future__ import annotations

import logging
from typing import Any

from resqued import reexec, systemd
from resqued.master_state import MasterState

log = logging.getLogger("resqued")


def saved_state(m: MasterState) -> dict[str, Any]:
    return {
        **m.pool.saved(),
        "pool_delta": m.pool_delta,
        "workers_stopped": m.workers_stopped,
        "view": m.view,
        "replacements": dict(m.replacements),
        "reloads": dict(m.reloads),
        "jobs_retired": m.job_stats.saved(),
    }


def restore(m: MasterState, state: dict[str, Any]) -> None:
    """Take over the listeners a previous image of this master left running."""
    m.pool.restore(state)
    m.pool_delta = state["pool_delta"]
    m.workers_stopped = state["workers_stopped"]
    m.view = state.get("view") or m.view
    m.replacements.update(state.get("replacements") or {})
    m.reloads.update(state.get("reloads") or {})
    m.job_stats.restore(state.get("jobs_retired") or [])
    m.ever_ready = True
    m.ready_notified = True
    log.info("re-exec: took over %d listener(s) and their workers", len(m.pool.listeners))
    systemd.ready(m.status_text())


class Upgrade:
    """One USR2: a running preflight, then (if it passed) the exec."""

    def __init__(self, m: MasterState) -> None:
        log.info("re-exec: checking that the new release starts")
        self.preflight = reexec.Preflight(m.argv, m.cwd)

    def fileno(self) -> int:
        """Readable when the preflight has exited; -1 when there is nothing to watch."""
        return self.preflight.fileno()

    def owns(self, pid: int) -> bool:
        return self.preflight.process is not None and self.preflight.process.pid == pid

    def exited(self, status: int) -> None:
        """The master's reaping found the preflight's exit status."""
        self.preflight.reaped(status)

    def poll(self, m: MasterState) -> bool:
        """True once this upgrade is over: cancelled (logged), or the exec failed."""
        problem = self.preflight.poll()
        if problem is None:
            return False
        if problem:
            log.error("re-exec cancelled, keeping the running master: %s", problem)
            return True
        systemd.reloading()
        log.info("re-exec: handing over %d listener(s)", len(m.pool.listeners))
        fds = [li.channel.fileno() for li in m.pool.listeners if not li.channel.closed]
        reexec.exec_with_state(m.argv, saved_state(m), fds, m.cwd)
        systemd.ready(m.status_text())  # only reached if the exec failed
        return True

    def cancel(self) -> None:
        self.preflight.kill()
