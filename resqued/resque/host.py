"""This host's name in Redis: the system's host name, or the operator's override.

Worker ids (``host:pid:queues``), master ids (``host:pid``), ``resqued status``,
the dashboard and the prune of "this host's" dead workers all use
``hostname()``.  ``--hostname NAME`` (or ``$RESQUED_HOSTNAME``) gives a master
and everything it starts a name of its own: containers whose host names are
random, or several simulated hosts on one machine (tests, the bench).  The
flag sets the variable, so listeners, workers and a re-executed master
inherit it.
"""

from __future__ import annotations

import os
import socket

from resqued.errors import ResquedError

ENV = "RESQUED_HOSTNAME"
MAX_LENGTH = 255


def validate(name: str, where: str = "--hostname") -> str:
    """``name`` if it can be a host in a worker id; else ResquedError naming the cause."""
    if not name:
        raise ResquedError(f"{where} is empty: give a host name")
    if len(name) > MAX_LENGTH:
        raise ResquedError(f"{where} is {len(name)} characters long; at most {MAX_LENGTH}")
    if ":" in name:
        raise ResquedError(f"{where} {name!r} has a ':', which separates a worker id's parts")
    if any(c.isspace() or not c.isprintable() for c in name):
        raise ResquedError(f"{where} {name!r} has a blank or control character")
    return name


def override(name: str | None, where: str = "--hostname") -> None:
    """Use ``name`` (checked) as this host's name here and in every process started from here."""
    if name is not None:
        os.environ[ENV] = validate(name, where)


def hostname() -> str:
    """``$RESQUED_HOSTNAME`` when set (checked), else the system's host name."""
    name = os.environ.get(ENV)
    if name is None:
        return socket.gethostname()
    return validate(name, f"${ENV}")
