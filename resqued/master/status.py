"""What the master says about itself: its process title and its registration document.

Both are built from the master's state each loop; neither talks to anything.
The document's fields are listed in docs/operations.md (``resqued status``).
``Reported`` names what they read of the ``Master`` (resqued/master/loop.py),
which calls them with itself: read only, so this module needs no import of it.
"""

from __future__ import annotations

import collections
import logging
import time
from typing import Any, Protocol

from resqued.config.view import MasterView
from resqued.errors import ResquedError
from resqued.master.listeners import Listeners
from resqued.master.registry import Registration
from resqued.master.requests import ReplacedRecently
from resqued.process import proctitle
from resqued.resque.store import Store
from resqued.version import __version__

log = logging.getLogger("resqued")


class Reported(Protocol):
    """What the title and the document read of the master (all of it read only)."""

    @property
    def pid(self) -> int: ...
    @property
    def started_at(self) -> float: ...
    @property
    def view(self) -> MasterView: ...
    @property
    def listeners(self) -> Listeners: ...
    @property
    def stopping(self) -> str | None: ...
    @property
    def workers_stopped(self) -> bool: ...
    @property
    def pool_delta(self) -> int: ...
    @property
    def failure(self) -> str: ...
    @property
    def last_reload(self) -> dict[str, Any] | None: ...
    @property
    def replacements(self) -> collections.Counter[str]: ...
    @property
    def replaced(self) -> ReplacedRecently: ...
    @property
    def host(self) -> str: ...
    def describe(self) -> str: ...


def state(m: Reported) -> str:
    if m.stopping:
        return "stopping"
    return "workers stopped" if m.workers_stopped else "running"


def title(m: Reported) -> str:
    workers = m.listeners.workers
    tag = " stopping" if m.stopping else ""
    if m.failure and not m.stopping:
        tag = " [listener failing]"  # the reason is in the log and in status
    if m.view.compat.title:  # resque-pool's appname: resque-pool[<app>]
        tag += f" {m.view.compat.title}"
    return (
        f"{proctitle.MANAGER_PREFIX} master [gen {m.listeners.generation}] "
        f"[{workers} worker{'' if workers == 1 else 's'}]{tag} {m.describe()}"
    )


def document(m: Reported, host: str) -> dict[str, Any]:
    """The registration document (see resqued/master/registry.py)."""
    li = m.listeners.current
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
        listener = {
            "pid": None,
            "number": m.listeners.generation,
            "state": "failed",
            "error": m.failure,
        }
    configured = m.view.workers + m.pool_delta
    return {
        "id": f"{host}:{m.pid}",
        "host": host,
        "pid": m.pid,
        "version": __version__,
        "generation": m.listeners.generation,
        "config": m.describe(),
        "started_at": m.started_at,
        "heartbeat_at": time.time(),
        "paused": False,  # readers look at the pause key itself
        "state": state(m),
        "listener": listener,
        "workers": {
            "configured": 0 if m.workers_stopped else configured,
            "running": m.listeners.workers,
            "pids": m.listeners.worker_pids(),
        },
        "last_reload": m.last_reload,
        "replacements": dict(m.replacements),
        "replaced_recently": m.replaced.document(),
    }


def register(m: Reported) -> Registration | None:
    """Start keeping the master's registration in Redis (a thread: Redis never stalls the loop)."""
    try:
        store = Store.connect(m.view.redis_url, m.view.namespace or "resque")
    except ResquedError as exc:
        log.warning("not registering the master in redis: %s", exc)
        return None
    registration = Registration(store, f"{m.host}:{m.pid}")
    registration.publish(document(m, m.host), now=True)
    registration.start()
    return registration
