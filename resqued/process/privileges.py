"""Running as the configured ``user()``: dropping privileges, and log files that stay writable.

The master stays root (it owns the pidfile and the signals); each listener
drops to the user and group once it has read the config and opened what it
needs, so its workers start as that user.  Log files are given to the user,
by the listener at boot and by the master whenever it reopens them (USR1,
rotation), so that the listener and the workers can reopen them too.
Outside root, or without ``user()``, nothing here does anything.
"""

from __future__ import annotations

import grp
import logging
import os
import pwd
from collections.abc import Iterable

log = logging.getLogger("resqued")


def ids(user: str, group: str | None) -> tuple[int, int]:
    """(uid, gid) of ``user`` and ``group`` (default: the user's primary group); KeyError."""
    entry = pwd.getpwnam(user)
    return entry.pw_uid, (grp.getgrnam(group).gr_gid if group else entry.pw_gid)


def drop(user: str | None, group: str | None) -> None:
    """Become ``user`` (and ``group``, and the user's other groups) when running as root."""
    if not user or os.getuid() != 0:
        return
    uid, gid = ids(user, group)
    os.setgid(gid)
    os.initgroups(user, gid)
    os.setuid(uid)


def give_logs(user: str | None, group: str | None, paths: Iterable[str | None]) -> None:
    """Hand the log files to ``user`` so that its processes can reopen them (as unicorn does).

    A file that cannot be changed is left as it is, with a warning.
    """
    if not user or os.getuid() != 0:
        return
    try:
        uid, gid = ids(user, group)
    except KeyError as exc:
        log.error("user() names an unknown user or group: %s", exc)
        return
    for path in {p for p in paths if p}:
        try:
            os.chown(path, uid, gid)
        except OSError as exc:
            log.warning("cannot give log file %s to %s: %s", path, user, exc.strerror)
