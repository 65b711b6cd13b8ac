"""What the master does when a listener reports in or ends (its loop calls these).

A listener that got ready retires the older ones (a reload done) and, the
first time, completes the start (``-D`` returns; systemd gets ``READY`` once
its workers have registered).  One
that never got ready fails the reload (the previous listener stays), is
retried with backoff (after the start), or, on a fresh start, stops the master
with the reason.  One that dies after it ran is replaced with backoff.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from resqued import daemon, hot_swap, logs, master_compat, systemd
from resqued.listener_proxy import ListenerProxy
from resqued.master_state import MasterState
from resqued.signal_modes import retire_signal

log = logging.getLogger("resqued")

LISTENER_HEALTHY_AFTER = 10.0  # a listener that ran this long resets the restart backoff


def exited(m: MasterState, listener: ListenerProxy, status: int) -> None:
    """A listener exited: a retiring one is simply gone; the current one is replaced."""
    code = os.waitstatus_to_exitcode(status)
    if listener is not m.pool.current:
        log.info("%r exited (%s)", listener, code)
        return
    m.pool.current = None
    if m.stopping or m.workers_stopped:
        return
    if not listener.ready:
        failed(m, listener, listener.failure or f"it exited with status {code}")
        return
    if time.monotonic() - listener.started >= LISTENER_HEALTHY_AFTER:
        m.pool.backoff.succeeded()
    delay = m.pool.backoff.failed()
    m.pool.next_start_at = time.monotonic() + delay
    log.error("%r died (exit %s); starting another in %.1fs", listener, code, delay)


def failed(m: MasterState, listener: ListenerProxy, reason: str) -> None:
    """A listener that never got ready: keep the previous one, or retry, or give up."""
    m.failure = reason
    previous = m.pool.previous_ready()
    reload_done(m, "failed", reason)
    if previous:
        log.error("reload failed, keeping %r and its workers: %s", previous, reason)
        systemd.status(f"reload failed: {reason}")
        m.pool.current = previous
        return
    if not m.ever_ready:  # a fresh start that cannot work: say why and stop
        log.error("cannot start: %s", reason)
        daemon.report_failure(reason)
        m.exit_code = 1
        m.stopping = "TERM"
        return
    delay = m.pool.backoff.failed()
    m.pool.next_start_at = time.monotonic() + delay
    log.error("%r cannot start: %s; trying again in %.1fs", listener, reason, delay)


def reload_done(m: MasterState, outcome: str, error: str | None) -> None:
    if m.last_reload and m.last_reload["outcome"] == "pending":
        m.last_reload.update(outcome=outcome, error=error)
        m.reloads[outcome] += 1


def ready(m: MasterState, listener: ListenerProxy) -> None:
    """The current listener runs: retire the older ones; the first one completes the start."""
    log.info("%r is ready with %d workers", listener, listener.total)
    apply_summary(m, listener.summary)
    m.failure = ""
    reload_done(m, "ok", None)
    m.pool.retire_all_but(listener, retire_signal(m.view))
    master_compat.listener_ready(m)  # resque-pool's --kill-others
    if m.replace_pid:
        hot_swap.take_over(m.replace_pid, m.view.get("pidfile"))
        m.replace_pid = 0
    if not m.ever_ready:
        m.ever_ready = True
        daemon.notify_ready()
    if m.ready_notified:
        systemd.ready(m.status_text())  # a reload done
    else:
        systemd.status(f"gen {m.pool.generation}, starting {listener.total} workers")
        workers_registered(m)


def workers_registered(m: MasterState) -> None:
    """At start, systemd's READY=1 once every worker of the current listener has registered
    (its statistics show none starting), not when the listener has only loaded the app."""
    li = m.pool.current
    if m.ready_notified or li is None or not li.ready:
        return
    if int((li.stats or {}).get("registered") or 0) >= li.total:
        m.ready_notified = True
        systemd.ready(m.status_text())


def apply_summary(m: MasterState, summary: dict[str, Any]) -> None:
    """A new listener's config: what the master keeps of it (log paths, timeouts, sizes)."""
    if not summary:
        return
    paths = (summary.get("stdout_path"), summary.get("stderr_path"))
    if paths != (m.view.get("stdout_path"), m.view.get("stderr_path")) and any(paths):
        logs.redirect(*paths)
    m.view = {**m.view, **summary}
    m.rotation = master_compat.rotation(m)
