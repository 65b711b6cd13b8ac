"""What the master's signals mean (resqued's own, or a compat command's) and its compat duties.

The settings of the tools resqued replaces (docs/migrating/) reach the master
typed, in its view (``MasterView.compat``, a ``config.compat.Compat``); the
master's ``handle_<signal>`` methods ask the functions below what a signal
means.  With no compat settings every answer is resqued's own meaning.
Beside them: the log files handed to ``user()`` and resque_starter's status
file; resque-pool's ``--kill-others`` is ``pool_killer.py``, resque_starter's
log rotation ``log_rotation.py``.
"""

from __future__ import annotations

import contextlib
import os
import signal

from resqued.config.compat import STOP_ACTIONS, Compat
from resqued.config.view import MasterView
from resqued.process import logs, privileges

# resqued's own: QUIT is graceful, INT and TERM stop now; the master waits for all of them.
DEFAULT_STOP = {"QUIT": ("QUIT", True), "INT": ("TERM", True), "TERM": ("TERM", True)}


def stop_action(compat: Compat, name: str) -> tuple[str, bool]:
    """For QUIT, INT or TERM: (the signal the workers get, QUIT or TERM; whether to wait)."""
    action = compat.stop.get(name)
    return STOP_ACTIONS.get(action, DEFAULT_STOP[name]) if action else DEFAULT_STOP[name]


def relays(compat: Compat, name: str) -> bool:
    """True if the master passes ``name`` (USR1, USR2, CONT) on to every worker."""
    return name in compat.relay_signals


def handles_winch(compat: Compat, on_a_terminal: bool) -> bool:
    """resqued: WINCH stops the workers unless stdin is a terminal; compat: always or never."""
    if compat.winch == "always":
        return True
    return compat.winch != "never" and not on_a_terminal


def retire_signal(compat: Compat) -> int:
    """What a HUP sends the listener it replaces: QUIT, or TERM (resque-pool with TERM_CHILD)."""
    return signal.SIGTERM if compat.retire_signal == "TERM" else signal.SIGQUIT


def give_logs(view: MasterView) -> None:
    """After the master (re)opened the log files: ``user()``'s processes must reopen them too."""
    privileges.give_logs(view.user, view.group, logs.paths())


def remove_status_file(view: MasterView) -> None:
    """resque_starter's status file goes with the master."""
    if status_file := view.compat.status_file:
        with contextlib.suppress(OSError):
            os.unlink(status_file)
