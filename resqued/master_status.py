"""What the master says about itself: its process title and its registration document.

Both are built from the master's state each loop; neither talks to anything.
The document's fields are listed in docs/operations.md (``resqued status``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from resqued import proctitle
from resqued.errors import ResquedError
from resqued.master_registry import Registration
from resqued.master_state import MasterState
from resqued.resque.store import Store
from resqued.version import __version__

log = logging.getLogger("resqued")


def state(m: MasterState) -> str:
    if m.stopping:
        return "stopping"
    return "workers stopped" if m.workers_stopped else "running"


def title(m: MasterState) -> str:
    workers = m.pool.workers
    tag = " stopping" if m.stopping else ""
    if m.failure and not m.stopping:
        tag = " [listener failing]"  # the reason is in the log and in status
    compat = m.view.get("compat") or {}
    if compat.get("title"):  # resque-pool's appname: resque-pool[<app>]
        tag += f" {compat['title']}"
    return (
        f"{proctitle.MANAGER_PREFIX} master [gen {m.pool.generation}] "
        f"[{workers} worker{'' if workers == 1 else 's'}]{tag} {m.describe()}"
    )


def document(m: MasterState, host: str) -> dict[str, Any]:
    """The registration document (see resqued/master_registry.py)."""
    li = m.pool.current
    listener = None
    if li is not None:
        listener_state = "running" if li.ready else "failed" if li.failure else "starting"
        listener = {
            "pid": li.pid,
            "number": li.number,
            "state": listener_state,
            "error": li.failure or None,
        }
    elif m.failure:
        listener = {"pid": None, "number": m.pool.generation, "state": "failed", "error": m.failure}
    configured = int(m.view.get("workers") or 0) + m.pool_delta
    return {
        "id": f"{host}:{m.pid}",
        "host": host,
        "pid": m.pid,
        "version": __version__,
        "generation": m.pool.generation,
        "config": m.describe(),
        "started_at": m.started_at,
        "heartbeat_at": time.time(),
        "paused": False,  # readers look at the pause key itself
        "state": state(m),
        "listener": listener,
        "workers": {
            "configured": 0 if m.workers_stopped else configured,
            "running": m.pool.workers,
            "pids": m.pool.worker_pids(),
        },
        "last_reload": m.last_reload,
        "replacements": dict(m.replacements),
    }


def register(m: MasterState) -> Registration | None:
    """Start keeping the master's registration in Redis (a thread: Redis never stalls the loop)."""
    try:
        store = Store.connect(m.view.get("redis_url"), m.view.get("namespace") or "resque")
    except ResquedError as exc:
        log.warning("not registering the master in redis: %s", exc)
        return None
    registration = Registration(store, f"{m.host}:{m.pid}")
    registration.publish(document(m, m.host), now=True)
    registration.start()
    return registration
