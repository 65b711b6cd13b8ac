"""Starting a master: claim the pidfile (or wait to take it over), adopt a re-exec's state, run."""

from __future__ import annotations

import os
from typing import Any

from resqued import pidfile, upgrade
from resqued.config.model import Overrides
from resqued.master import Master
from resqued.proc import alive


def serve(
    overrides: Overrides,
    view: dict[str, Any],
    cwd: str,
    log_level: int,
    argv: list[str],
    state: dict[str, Any] | None = None,
    hot_swap: bool = False,
    boot_timeout: float | None = None,
) -> int:
    """Run a master until it is told to stop, holding the pidfile meanwhile.

    After a USR2 re-exec this is the new image: it adopts the listeners the
    old image left, under the same pid and pidfile.
    """
    master = Master(overrides, view, cwd, log_level, argv, boot_timeout)
    path = view.get("pidfile")
    if path:
        holder = pidfile.running_master(path)
        if hot_swap and holder and holder != os.getpid() and alive(holder):
            master.replace_pid = holder
        else:
            pidfile.write(path)
    if state:
        upgrade.restore(master, state)
    try:
        return master.run()
    finally:
        if path:
            pidfile.remove(path)
