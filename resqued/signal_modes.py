"""How the master reads its signals: resqued's meanings, or a compat command's (docs/migrating/).

Pure functions of the config's compat view (``view["compat"]``, plain data from
``resqued.config.compat``); the master's ``handle_<signal>`` methods ask them.
With no compat settings every answer is resqued's own meaning.
"""

from __future__ import annotations

import signal
from typing import Any

from resqued.config.compat import STOP_ACTIONS

# resqued's own: QUIT is graceful, INT and TERM stop now; the master waits for all of them.
DEFAULT_STOP = {"QUIT": ("QUIT", True), "INT": ("TERM", True), "TERM": ("TERM", True)}


def _compat(view: dict[str, Any]) -> dict[str, Any]:
    found = view.get("compat")
    return found if isinstance(found, dict) else {}


def stop_action(view: dict[str, Any], name: str) -> tuple[str, bool]:
    """For QUIT, INT or TERM: (the signal the workers get, QUIT or TERM; whether to wait)."""
    action = (_compat(view).get("stop") or {}).get(name)
    return STOP_ACTIONS.get(action, DEFAULT_STOP[name]) if action else DEFAULT_STOP[name]


def relays(view: dict[str, Any], name: str) -> bool:
    """True if the master passes ``name`` (USR1, USR2, CONT) on to every worker."""
    return name in (_compat(view).get("relay_signals") or ())


def handles_winch(view: dict[str, Any], on_a_terminal: bool) -> bool:
    """resqued: WINCH stops the workers unless stdin is a terminal; compat: always or never."""
    mode = _compat(view).get("winch") or "unless-tty"
    if mode == "always":
        return True
    return mode != "never" and not on_a_terminal


def retire_signal(view: dict[str, Any]) -> int:
    """What a HUP sends the listener it replaces: QUIT, or TERM (resque-pool with TERM_CHILD)."""
    return signal.SIGTERM if _compat(view).get("retire_signal") == "TERM" else signal.SIGQUIT


def setting(view: dict[str, Any], name: str) -> Any:
    """Any other compat setting the master reads (title, kill_others, status_file, ...)."""
    return _compat(view).get(name)
