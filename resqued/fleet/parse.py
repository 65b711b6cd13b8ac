"""Reading what Ruby Resque, pyres and resqued write, without trusting any of it.

Every function here takes raw Redis values and returns typed values or None;
none raises on bad input, so one odd worker never breaks ``status``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from resqued.fleet.model import Listener, Master, Reload, Replacement, WorkerCounts

_THREAD = re.compile(r"^(.*)#(\d+)$")
_OFFSET_FORMATS = ("%Y-%m-%d %H:%M:%S %z", "%Y/%m/%d %H:%M:%S %z")
_NAIVE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M:%S")
_UTC_NAMES = (" UTC", " GMT", " Z")
RECENT_MAX = 20  # replacements a master's document lists (its newest)


def text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def parse_time(value: Any) -> float | None:
    """Epoch seconds from any time Resque-compatible tools write, else None.

    Ruby: ``2024-01-01T12:00:00Z`` (run_at), ``2024-01-01 12:00:00 +0000``
    (started), ``2024/01/01 12:00:00 UTC`` (failed_at); pyres: epoch numbers, and
    ``2024/01/01 12:00:00`` without a zone (taken as UTC).  Zone names other
    than UTC/GMT are ambiguous and give None.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    s = text(value).strip()
    if not s:
        return None
    try:
        return float(s)
    except ValueError:
        pass
    for suffix in _UTC_NAMES:
        if s.endswith(suffix):
            s = s[: -len(suffix)] + " +0000"
            break
    dt = _datetime(s)
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def _datetime(s: str) -> datetime | None:
    try:
        return datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        pass
    for fmt in _OFFSET_FORMATS + _NAIVE_FORMATS:
        try:
            return datetime.strptime(s, fmt)
        except ValueError:
            continue
    return None


def split_worker_id(worker_id: str) -> tuple[str, int | None, list[str], int | None]:
    """``host:pid:queues[#N]`` -> host, pid, queue names, thread number."""
    host, _, rest = worker_id.partition(":")
    pid_text, _, queues = rest.partition(":")
    thread = None
    m = _THREAD.match(queues)
    if m:
        queues, thread = m.group(1), int(m.group(2))
    pid = int(pid_text) if pid_text.isdigit() else None
    return host, pid, [q for q in queues.split(",") if q], thread


def integer(value: Any, default: int = 0) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    try:
        return int(text(value).strip())
    except ValueError:
        return default


def job_document(raw: bytes | None) -> dict[str, Any] | None:
    """The ``worker:<id>`` value as a dict; a stand-in for one that is not a job document."""
    if raw is None:
        return None
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        doc = None
    if isinstance(doc, dict):
        return doc
    return {"queue": "", "run_at": None, "payload": {"class": "(unreadable)", "args": []}}


def _dict(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def _str_or_none(value: Any) -> str | None:
    return None if value is None else text(value)


def _listener(value: Any) -> Listener | None:
    d = _dict(value)
    if d is None:
        return None
    pid, number = d.get("pid"), d.get("number")
    return Listener(
        pid=integer(pid) if pid is not None else None,
        number=integer(number) if number is not None else None,
        state=text(d.get("state")),
        error=_str_or_none(d.get("error")),
    )


def _workers(value: Any) -> WorkerCounts:
    d = _dict(value) or {}
    pids = d.get("pids")
    return WorkerCounts(
        configured=integer(d.get("configured")),
        running=integer(d.get("running")),
        pids=[integer(p) for p in pids if integer(p, -1) > 0] if isinstance(pids, list) else [],
    )


def _reload(value: Any) -> Reload | None:
    d = _dict(value)
    if d is None:
        return None
    return Reload(
        at=parse_time(d.get("at")),
        outcome=text(d.get("outcome")),
        error=_str_or_none(d.get("error")),
    )


def _config(value: Any) -> list[str]:
    if isinstance(value, list):
        return [text(v) for v in value]
    return [text(value)] if value else []


def master_document(master_id: str, raw: bytes, paused: bool) -> Master | None:
    """A master's registration (``resqued:master:<host>:<pid>``); None when unreadable."""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict):
        return None
    host, _, pid_text = master_id.rpartition(":")
    reps = _dict(doc.get("replacements")) or {}
    return Master(
        id=master_id,
        host=text(doc.get("host")) or host,
        pid=integer(doc.get("pid"), integer(pid_text)),
        version=text(doc.get("version")),
        generation=integer(doc.get("generation")),
        config=_config(doc.get("config")),
        started_at=parse_time(doc.get("started_at")),
        heartbeat_at=parse_time(doc.get("heartbeat_at")),
        paused=paused,
        state=text(doc.get("state")) or "running",
        listener=_listener(doc.get("listener")),
        workers=_workers(doc.get("workers")),
        last_reload=_reload(doc.get("last_reload")),
        replacements={text(k): integer(v) for k, v in reps.items()},
        recent_replacements=_recent(doc.get("replaced_recently")),
    )


def _recent(value: Any) -> list[Replacement]:
    """``replaced_recently``: [{at, pid, queues, reason}], oldest first."""
    if not isinstance(value, list):
        return []
    out = []
    for item in value[-RECENT_MAX:]:
        if isinstance(item, dict) and item.get("reason"):
            pid = integer(item.get("pid"), -1)
            out.append(
                Replacement(
                    at=parse_time(item.get("at")),
                    pid=pid if pid > 0 else None,
                    queues=text(item.get("queues")),
                    reason=text(item.get("reason")),
                )
            )
    return out
