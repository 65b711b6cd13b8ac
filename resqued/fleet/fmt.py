"""Short human forms of durations, times and counts, shared by ``status`` and the dashboard."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from resqued.fleet.model import Master, Worker

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` safe for a terminal on one line: control characters (escape sequences a
    payload or an error message may hold, newlines) shown as ``\\x1b``, a tab as a space."""
    return _CONTROL.sub(lambda m: " " if m.group() == "\t" else f"\\x{ord(m.group()):02x}", text)


def duration(seconds: float | None) -> str:
    """``42s``, ``4m05s``, ``2h13m``, ``3d04h``; ``?`` when unknown."""
    if seconds is None:
        return "?"
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def ago(epoch: float | None, now: float) -> str:
    return "?" if epoch is None else duration(now - epoch) + " ago"


def utc(epoch: float | None) -> str:
    """``2024-01-01 12:00:00 UTC``; ``?`` when unknown."""
    if epoch is None:
        return "?"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def worker_doing(w: Worker) -> str:
    """``Archive on high for 12s``, or nothing when idle."""
    if w.job is None:
        return ""
    return f"{w.job.class_name or '?'} on {w.job.queue or '?'} for {duration(w.job.seconds)}"


def replacements(m: Master) -> str:
    """``crashed 2, memory 1`` (largest first), or ``none``."""
    items = sorted(m.replacements.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{k} {v}" for k, v in items if v) or "none"


def listener(m: Master) -> str:
    lst = m.listener
    if lst is None:
        return "no listener"
    out = f"listener #{lst.number if lst.number is not None else '?'}"
    out += f" pid {lst.pid} {lst.state}" if lst.pid else f" {lst.state}"
    return out + (f" ({lst.error})" if lst.error else "")


def last_reload(m: Master, now: float) -> str:
    rel = m.last_reload
    if rel is None:
        return "never reloaded"
    out = f"last reload {ago(rel.at, now)} {rel.outcome}"
    return out + (f" ({rel.error})" if rel.error else "")
