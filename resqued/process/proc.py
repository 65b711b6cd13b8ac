"""Small process utilities: parent-death signals, quiet signals, liveness, deadlined children."""

from __future__ import annotations

import ctypes
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

PR_SET_PDEATHSIG = 1


def set_parent_death_signal(sig: int) -> bool:
    """Ask Linux to send ``sig`` to this process when its parent dies. False elsewhere."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        return bool(_libc().prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


_LIBC: list[ctypes.CDLL] = []


def _libc() -> ctypes.CDLL:
    """The C library, loaded once per process tree: a forked worker reuses its listener's.

    ``CDLL(None)`` reaches libc's symbols through the interpreter, which links it;
    ``find_library`` would run ``ldconfig -p`` in a subprocess on every call.
    """
    if not _LIBC:
        _LIBC.append(ctypes.CDLL(None, use_errno=True))
    return _LIBC[0]


def reaped(pids: Iterable[int]) -> Iterator[tuple[int, int]]:
    """(pid, wait status) of those of ``pids`` that have exited, without blocking.

    Only the children named are reaped, never ``waitpid(-1)``: a hook or the
    master's own helpers may run subprocesses whose exit status is theirs to read.
    """
    for pid in list(pids):
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            continue
        if done:
            yield pid, status


def reaped_any() -> Iterator[tuple[int, int]]:
    """(pid, wait status) of every child that has exited, without blocking.

    For the master, which may be PID 1 in a container: orphans and anything
    else reparented to it are reaped too.  It routes each status to whoever
    waits for that pid (listeners, the USR2 preflight).
    """
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        yield pid, status


def signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"SIG{sig}"


def alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (exited, not yet reaped) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rpartition(b")")[2].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def signal_quietly(pid: int, sig: int, group: bool = False) -> bool:
    """Send ``sig`` to ``pid`` (its process group with ``group``); False if it is gone.

    For processes we started and watch until we reap them (or their parent does,
    for a worker's job child): their pids are not reused while they are unreaped.
    """
    if pid <= 1:
        raise ValueError(f"refusing to signal pid {pid}")
    try:
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


def cmdline(pid: int) -> list[str]:
    """The command line (or title) ``ps`` shows for ``pid``; [] if gone or a zombie."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def start_ticks(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks after boot (/proc/PID/stat field 22)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rpartition(b")")[2].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return "unknown"


class ProcessHandle:
    """A process held by a pidfd: a signal or a wait through it never reaches a reused pid.

    Where pidfds are missing (not Linux >= 5.3) it falls back to the pid.
    """

    def __init__(self, pid: int, fd: int) -> None:
        self.pid = pid
        self.fd = fd

    @classmethod
    def open(cls, pid: int, pid_one: bool = False) -> ProcessHandle | None:
        """A handle on ``pid`` (> 1, or 1 with ``pid_one``), or None if no such process runs.

        ``pid_one`` is for a master that is its PID namespace's init, checked by the
        caller (resqued/master/pidfile.py) before any signal.
        """
        if pid < 1 or (pid == 1 and not pid_one):
            raise ValueError(f"refusing to handle pid {pid}")
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            return None
        except (AttributeError, OSError):
            fd = -1
        handle = cls(pid, fd)
        if not handle.alive():
            handle.close()
            return None
        return handle

    def alive(self) -> bool:
        return alive(self.pid) if self.fd < 0 else not select.select([self.fd], [], [], 0)[0]

    def signal(self, sig: int) -> bool:
        """Send ``sig``; False if the process has exited meanwhile."""
        try:
            if self.fd >= 0:
                signal.pidfd_send_signal(self.fd, sig)
            else:
                os.kill(self.pid, sig)
        except ProcessLookupError:
            return False
        return True

    def wait(self, timeout: float) -> bool:
        """Sleep until the process exits or ``timeout`` passes. True if it is gone."""
        deadline = time.monotonic() + timeout
        while self.alive():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if self.fd >= 0:
                select.select([self.fd], [], [], left)  # readable when the process exits
            else:
                time.sleep(min(0.2, left))
        return True

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> ProcessHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Deadlined:
    """A child in a session of its own, with a deadline: polled, never waited for.

    ``poll`` gives its exit code once it has exited; past the deadline it kills
    the child's whole group (grandchildren too) and says so.  The master reaps
    every child itself (``reaped_any``): it hands the status over with ``reaped``.
    """

    def __init__(self, cmd: list[str], timeout: float, **popen: Any) -> None:
        """Start ``cmd`` (``subprocess.Popen`` arguments in ``popen``); OSError if it can't."""
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.process: subprocess.Popen[bytes] = subprocess.Popen(
            cmd, start_new_session=True, **popen
        )
        self.pid = self.process.pid

    def poll(self) -> int | None:
        """Its exit code; None while it runs. TimeoutError once the deadline passed (killed)."""
        code = self.process.poll()
        if code is None and time.monotonic() >= self.deadline:
            self.kill()
            raise TimeoutError(f"still running after {self.timeout:g}s")
        return code

    def reaped(self, status: int) -> None:
        """Its exit status, when someone else's ``waitpid`` got it."""
        if self.process.returncode is None:
            self.process.returncode = os.waitstatus_to_exitcode(status)

    def kill(self) -> None:
        """End the child and whatever it started (its own session), and reap it."""
        if self.process.poll() is None:
            signal_quietly(self.process.pid, signal.SIGKILL, group=True)
            self.process.wait()
