"""What the master does for the compat settings (docs/migrating/), beside its own signals.

Each function takes the master and reads only its config view (plain data):
relayed USR1/USR2/CONT, resque_starter's log rotation and status file,
resque-pool's --kill-others, and the log files handed to ``user()``.
"""

from __future__ import annotations

import contextlib
import logging
import os

from resqued import ipc, log_rotation, logs, pool_killer, privileges, signal_modes
from resqued.master_state import MasterState

log = logging.getLogger("resqued")


def relayed(m: MasterState, name: str) -> bool:
    """USR1/USR2/CONT passed on to every worker (through the listeners), if the config says so."""
    if not signal_modes.relays(m.view, name):
        return False
    log.info("%s: sending it to every worker", name)
    for listener in m.pool.listeners:
        listener.send(ipc.Relay(name))
    return True


def give_logs(m: MasterState) -> None:
    """After the master (re)opened the log files: ``user()``'s processes must reopen them too."""
    compat = m.view.get("compat") or {}
    privileges.give_logs(compat.get("user"), compat.get("group"), logs.paths())


def rotation(m: MasterState) -> log_rotation.Rotation | None:
    return log_rotation.from_view(m.view)


def tick(m: MasterState) -> None:
    """Each loop turn: rotate the log file when it is due, then reopen it everywhere."""
    if m.rotation and m.rotation.due():
        m.rotation.rotate()
        m.reopen_logs()


def listener_ready(m: MasterState) -> None:
    """resque-pool's --kill-others, once, when our first listener's workers run."""
    if signal_modes.setting(m.view, "kill_others") and not m.others_killed:
        m.others_killed = True
        pool_killer.kill_others(m.pid)


def exiting(m: MasterState) -> None:
    """resque_starter's status file goes with the master."""
    if status_file := signal_modes.setting(m.view, "status_file"):
        with contextlib.suppress(OSError):
            os.unlink(status_file)
