"""The time formats Ruby Resque writes, each in one function."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def _utc(epoch: float | None) -> datetime:
    return datetime.fromtimestamp(time.time() if epoch is None else epoch, UTC)


def run_at(epoch: float | None = None) -> str:
    """``worker:<id>`` run_at: Ruby ``Time.now.utc.iso8601`` -> ``2024-01-01T12:00:00Z``."""
    return _utc(epoch).strftime("%Y-%m-%dT%H:%M:%SZ")


def started(epoch: float | None = None) -> str:
    """``worker:<id>:started``: Ruby ``Time#to_s`` -> ``2024-01-01 12:00:00 +0000``."""
    return _utc(epoch).strftime("%Y-%m-%d %H:%M:%S +0000")


def heartbeat(epoch: float) -> str:
    """``workers:heartbeat`` value: ISO 8601 with offset -> ``2024-01-01T12:00:00+00:00``."""
    return _utc(epoch).replace(microsecond=0).isoformat()


def failed_at(epoch: float | None = None) -> str:
    """Failure record ``failed_at`` -> ``2024/01/01 12:00:00 UTC``."""
    return _utc(epoch).strftime("%Y/%m/%d %H:%M:%S UTC")


def parse_heartbeat(value: str) -> float | None:
    """Epoch seconds of a heartbeat written by Ruby, pyres or us; None when unreadable."""
    value = value.strip()
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def local_to_s(epoch: float | None = None) -> str:
    """Ruby's local ``Time.now.to_s``: ``2024-01-01 13:00:00 +0100`` (last_enqueued_at)."""
    when = datetime.fromtimestamp(time.time() if epoch is None else epoch).astimezone()
    return when.strftime("%Y-%m-%d %H:%M:%S %z")


def local_failed_at(epoch: float | None = None) -> str:
    """resque-retry's kept failure ``failed_at``: local ``%Y/%m/%d %H:%M:%S``, no zone."""
    return time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(epoch))
