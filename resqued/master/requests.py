"""What the master keeps for the dashboard: its recent replacements (which worker, why) for
its registration document, and the dashboard's requests to stop one worker's job, passed
on to the listener that owns the worker."""

from __future__ import annotations

import collections
import logging
import time
from typing import Any

from resqued import ipc
from resqued.fleet.control import StopJob
from resqued.fleet.parse import RECENT_MAX
from resqued.master.listeners import Listeners

log = logging.getLogger("resqued")


class ReplacedRecently:
    """The last ``RECENT_MAX`` replacements: when, the worker's pid and queues, the reason."""

    def __init__(self) -> None:
        self.items: collections.deque[dict[str, Any]] = collections.deque(maxlen=RECENT_MAX)

    def note(self, pid: int, queues: str, reason: str) -> None:
        self.items.append({"at": time.time(), "pid": pid, "queues": queues, "reason": reason})

    def document(self) -> list[dict[str, Any]]:
        return list(self.items)


def stop_jobs(listeners: Listeners, requests: list[StopJob]) -> None:
    """USR1 to each requested worker, through the listener whose worker it is."""
    for req in requests:
        owners = [li for li in listeners.listeners if req.pid in li.workers]
        if not owners:
            log.info("dashboard: worker %s (pid %d) is not ours any more", req.worker, req.pid)
            continue
        log.info("dashboard: stopping the job of worker %s (pid %d)", req.worker, req.pid)
        for li in owners:
            li.send(ipc.Relay("USR1", req.pid))
