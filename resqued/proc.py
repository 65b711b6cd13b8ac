"""Small process utilities: parent-death signals, signal names, liveness, waiting for exit."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import signal
import sys
import time
from collections.abc import Iterable, Iterator

PR_SET_PDEATHSIG = 1


def set_parent_death_signal(sig: int) -> bool:
    """Ask Linux to send ``sig`` to this process when its parent dies. False elsewhere."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except OSError:
        return False


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


def wait_for_exit(pid: int, timeout: float) -> bool:
    """Sleep (never spin) until ``pid`` is gone or ``timeout`` passes. True if it is gone."""
    deadline = time.monotonic() + timeout
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        fd = -1
    try:
        while alive(pid):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if fd >= 0:
                select.select([fd], [], [], left)  # readable when the process exits
            else:
                time.sleep(min(0.2, left))
        return True
    finally:
        if fd >= 0:
            os.close(fd)
