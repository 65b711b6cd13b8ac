"""What the listener reads from ``/proc`` about its workers: memory, and a job child's identity.

Memory is PSS (proportional set size, from ``/proc/PID/smaps_rollup``): private
pages count in full, pages shared with other processes are divided among
them.  A preloaded application shared copy-on-write by 32 workers and their
listener therefore adds about 1/33 of its size to each worker, while memory a
job allocates counts in full; the PSS of a worker and of its job child add up
without counting the shared pages twice, as RSS would.
"""

from __future__ import annotations


def pss(pid: int) -> int | None:
    """The PSS of ``pid`` in bytes; None when it is gone (or ``/proc`` cannot say)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def worker_memory(pid: int, child: int) -> int | None:
    """PSS of a worker and of its job child (``child``: 0 for none); None if the worker is gone."""
    own = pss(pid)
    if own is None:
        return None
    if child and is_job_child(pid, child):
        own += pss(child) or 0
    return own


def stat_fields(pid: int) -> list[bytes]:
    """The fields of ``/proc/PID/stat`` after the command name (state, ppid, pgrp, ...)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rpartition(b")")[2].split()
    except OSError:
        return []


def is_job_child(worker: int, child: int) -> bool:
    """``child`` is a child of ``worker`` that leads its own process group (a job child)."""
    fields = stat_fields(child)
    try:
        return int(fields[1]) == worker and int(fields[2]) == child
    except (IndexError, ValueError):
        return False
