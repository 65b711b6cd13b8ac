"""A job child as an operating-system process: its group, its pidfd, its reaping."""

from __future__ import annotations

import fcntl
import os


def fds(*fds: int | None) -> tuple[int, ...]:
    return tuple(fd for fd in fds if fd is not None)


def pipe_size(fd: int) -> int:
    try:
        return fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ)
    except (AttributeError, OSError):  # not Linux: assume the smallest pipe
        return 4096


def own_group(pid: int) -> None:
    """Make the job child the leader of a process group of its own (called on both sides)."""
    try:
        os.setpgid(pid, pid)
    except OSError:  # the child did it first, or has already exited
        pass


def signal_group(pid: int, sig: int) -> None:
    """Signal the job child's group: the child and every process it started there.

    Only ever called with the pid of our own job child, before it is reaped, so the
    group is the one the child leads (or no group at all).
    """
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def pidfd_open(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):  # not Linux 5.3+: the wait loop polls instead
        return None


def has_exited(pid: int) -> bool:
    """Whether the child has exited, without reaping it."""
    try:
        flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
        return os.waitid(os.P_PID, pid, flags) is not None
    except ChildProcessError:
        return True


def reap(pid: int) -> int:
    """The exited child's wait status."""
    try:
        return os.waitpid(pid, 0)[1]
    except ChildProcessError:
        return 0
