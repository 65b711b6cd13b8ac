"""The master's pidfile: written atomically, never trusted blindly, removed only if ours.

``FILE`` holds the pid and a newline, nothing else, so ``kill $(cat FILE)`` and
systemd's ``PIDFile=`` keep working.  Beside it, ``FILE.start`` records which
process wrote it: ``<pid> <boot id> <start time in clock ticks after boot>``
(from ``/proc/PID/stat``, which no clock change moves).

Every command that acts on the pid in a pidfile (``quit-and-wait``,
``--hot-swap``, ``pause -p``, ``resume -p``, and the start-up check of ``-p``)
first checks it here.  The file must be a regular file (a FIFO would block
its readers) holding a number from 1 to the largest pid Linux gives, and the
process must be a resqued master: its ``/proc/PID/cmdline`` is our master's
title (``resqued-<version> master ...``, any version) or, in the moment before
that title is set, a resqued master's command line.  When ``FILE.start`` names
the same pid, the boot id and start time must match too, which tells a reused
pid apart even from another resqued master.  Pid 1 is a master only with such
a matching record (a master that is its container's main process, the init of
its PID namespace); without one it is never taken for a master.  Signals go
through a pidfd opened before the check, so they cannot reach a pid reused
after it.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from dataclasses import dataclass

from resqued.errors import ResquedError
from resqued.process.files import write_atomically
from resqued.process.proc import ProcessHandle, boot_id, cmdline, start_ticks

MASTER_TITLE = re.compile(r"resqued-\S+ master(?: |$)")
SUBCOMMANDS = ("work", "status", "quit-and-wait", "pause", "resume")
EXITED = "which has exited"
MAX_READ = 64  # a pidfile is a pid and a newline; more than this is not one
PID_MAX_LIMIT = 1 << 22  # Linux never gives a pid above this (PID_MAX_LIMIT, 64-bit)


class PidfileError(ResquedError):
    """A pidfile that cannot be acted on: not a file, garbage, no plausible pid, not a master's."""


@dataclass(frozen=True)
class Holder:
    """What a pidfile names. ``state``: none (no file or empty), gone, foreign, or master."""

    path: str
    pid: int | None
    state: str
    what: str = ""  # for "foreign": why it is not our master

    def describe(self) -> str:
        return f"pidfile {self.path} names pid {self.pid}, {self.what}"


def read(path: str) -> int | None:
    """The pid in ``path``; None if there is no file or it is empty; PidfileError if garbage."""
    try:
        raw = _read_small(path, MAX_READ + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise PidfileError(f"cannot read pidfile {path}: {exc.strerror}") from None
    if raw is None:
        raise PidfileError(f"pidfile {path} is not a regular file")
    text = raw.decode("ascii", errors="replace").strip()
    if not text:
        return None
    if len(raw) > MAX_READ or not re.fullmatch(r"[+-]?[0-9]+", text):
        raise PidfileError(f"pidfile {path} does not hold a pid (it holds {_shown(text)})")
    pid = int(text)
    if pid < 1:
        raise PidfileError(f"pidfile {path} holds pid {pid}, which cannot be a resqued master")
    if pid > PID_MAX_LIMIT:
        shown = text if len(text) <= 20 else text[:20] + "..."
        raise PidfileError(
            f"pidfile {path} holds pid {shown}, which cannot be a pid "
            f"(Linux gives none above {PID_MAX_LIMIT})"
        )
    return pid


def _read_small(path: str, limit: int) -> bytes | None:
    """Up to ``limit`` bytes of ``path``; None if it is not a regular file (never blocks)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.read(fd, limit)
    finally:
        os.close(fd)


def _shown(text: str) -> str:
    first = text.splitlines()[0] if text else ""
    return repr(first[:20] + ("..." if len(first) > 20 or "\n" in text else ""))


def _identity(pid: int) -> str | None:
    ticks = start_ticks(pid)
    return None if ticks is None else f"{boot_id()} {ticks}"


def _recorded(path: str, pid: int) -> str | None:
    """The identity FILE.start records for ``pid`` (None: no record for this pid)."""
    try:
        raw = _read_small(f"{path}.start", 200)
    except OSError:
        return None
    fields = raw.decode("ascii", errors="replace").split() if raw else []
    if len(fields) != 3 or fields[0] != str(pid):
        return None
    return f"{fields[1]} {fields[2]}"


def _looks_like_master(cmd: list[str]) -> bool:
    if MASTER_TITLE.match(" ".join(cmd)):
        return True
    # A master between exec and setting its title (a USR2 re-exec):
    # ``python -m resqued.cli ...`` or the ``resqued`` script, with no subcommand.
    if not cmd:
        return False
    head, args = os.path.basename(cmd[0]), cmd[1:]
    if head.startswith("python"):
        if args[:2] == ["-m", "resqued.cli"]:
            args = args[2:]
        elif args and os.path.basename(args[0]) == "resqued":
            args = args[1:]
        else:
            return False
    elif head != "resqued":
        return False
    return not args or args[0] not in SUBCOMMANDS


def check(pid: int, path: str | None = None) -> str | None:
    """None if ``pid`` is a live resqued master (the one that wrote ``path``); else why not."""
    recorded = _recorded(path, pid) if path else None
    if pid == 1 and recorded is None:  # init: a master only if it recorded itself as pid 1
        return f"which cannot be a resqued master unless {path or 'FILE'}.start records it"
    cmd = cmdline(pid)
    if not cmd:
        return EXITED
    if not _looks_like_master(cmd):
        return f"which is not a resqued master (it is {_title(cmd)})"
    if recorded is not None and recorded != _identity(pid):
        return "a resqued master that did not write this pidfile (the pid was reused)"
    return None


def _title(cmd: list[str]) -> str:
    title = " ".join(cmd)
    return repr(title[:60] + ("..." if len(title) > 60 else ""))


def holder(path: str) -> Holder:
    """What ``path`` names, checked. PidfileError if it is not a file of a plausible pid."""
    pid = read(path)
    if pid is None:
        return Holder(path, None, "none")
    why = check(pid, path)
    if why is None:
        return Holder(path, pid, "master")
    return Holder(path, pid, "gone" if why == EXITED else "foreign", why)


def open_master(path: str) -> ProcessHandle | None:
    """A handle on the master in ``path``; None if none runs; PidfileError if it is not ours."""
    pid = read(path)
    if pid is None:
        return None
    handle = ProcessHandle.open(pid, pid_one=True)  # first: the check cannot race a reused pid
    if handle is None:
        return None
    why = check(pid, path)
    if why is None:
        return handle
    handle.close()
    if why == EXITED:
        return None
    raise PidfileError(f"pidfile {path} names pid {pid}, {why}; not signalling it")


def signal_master(pid: int, sig: int, path: str | None = None) -> bool:
    """Send ``sig`` to ``pid`` only if it is (still) a resqued master. True if sent."""
    if pid < 1 or pid > PID_MAX_LIMIT:
        return False
    handle = ProcessHandle.open(pid, pid_one=True)  # pid 1: only with its record (check)
    if handle is None:
        return False
    with handle:
        return check(pid, path) is None and handle.signal(sig)


def running_master(path: str) -> int | None:
    """The pid of a live resqued master, other than us, that ``path`` names; else None."""
    try:
        found = holder(path)
    except PidfileError:
        return None
    return found.pid if found.state == "master" and found.pid != os.getpid() else None


def write(path: str, pid: int | None = None, force: bool = False) -> None:
    """Claim ``path`` for ``pid``; PidfileError if another live master holds it (unless force)."""
    pid = pid or os.getpid()
    if not force:
        current = running_master(path)
        if current and current != pid:
            raise PidfileError(f"pidfile {path} names pid {current}, which is still running")
    identity = _identity(pid)
    if identity:
        _replace(path + ".start", f"{pid} {identity}\n", pid)
    else:  # no /proc: the title check alone will have to do
        with contextlib.suppress(OSError):
            os.unlink(path + ".start")
    _replace(path, f"{pid}\n", pid)


def _replace(path: str, text: str, pid: int) -> None:
    try:
        write_atomically(path, text)
    except OSError as exc:
        raise PidfileError(f"cannot write pidfile {path}: {exc.strerror}") from None


def remove(path: str, pid: int | None = None) -> None:
    """Delete ``path`` and FILE.start if they still name ``pid`` (a newer master may own them)."""
    pid = pid or os.getpid()
    try:
        ours = read(path) == pid
    except PidfileError:
        ours = False
    if ours:
        with contextlib.suppress(OSError):
            os.unlink(path)
    if _recorded(path, pid) is not None:
        with contextlib.suppress(OSError):
            os.unlink(path + ".start")
