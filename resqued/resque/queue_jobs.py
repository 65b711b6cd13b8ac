"""The jobs waiting on one queue: a page of them, one taken out, the confirmed ones cleared.

Workers take jobs from a queue's head and producers push to its tail, so a job
shown at position p is at p - k a moment later (k jobs taken meanwhile).  A job is
named by its position when shown and the SHA-1 of its bytes (``digest``), and
every change looks for it in a bounded window at and before that position, in one
Lua script: what is changed is always the job the operator saw, never a newer one.
A job byte for byte identical to it is the same job for every reader.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from resqued.errors import ResquedError
from resqued.resque.store import Store

WINDOW = 1000  # positions a confirmed job may have moved toward the head and still be found
MARKER = "resqued:removing:"

# KEYS: queue.  ARGV: position shown, digest, window, marker.
_REMOVE = """
local at, window = tonumber(ARGV[1]), tonumber(ARGV[3])
local lo = math.max(0, at - window)
local span = redis.call('LRANGE', KEYS[1], lo, at)
for i = #span, 1, -1 do
  if redis.sha1hex(span[i]) == ARGV[2] then
    redis.call('LSET', KEYS[1], lo + i - 1, ARGV[4])
    redis.call('LREM', KEYS[1], 1, ARGV[4])
    return 1
  end
end
return 0
"""

# KEYS: queue.  ARGV: how many were confirmed, digest of the last of them, window.
# The last confirmed job is looked for at and before its position; it and every job
# before it go; jobs pushed since stay.  Returns how many went, -1 when it is not found.
_CLEAR = """
local n, window = tonumber(ARGV[1]), tonumber(ARGV[3])
local len = redis.call('LLEN', KEYS[1])
local hi = math.min(n, len) - 1
if hi < 0 then return 0 end
local lo = math.max(0, hi - window)
local span = redis.call('LRANGE', KEYS[1], lo, hi)
local found = -1
for i = #span, 1, -1 do
  if redis.sha1hex(span[i]) == ARGV[2] then found = lo + i - 1; break end
end
if found < 0 then return -1 end
local keep = len - found - 1
if keep == 0 then
  redis.call('UNLINK', KEYS[1])
elseif keep <= window then
  local rest = redis.call('LRANGE', KEYS[1], found + 1, -1)
  redis.call('UNLINK', KEYS[1])
  redis.call('RPUSH', KEYS[1], unpack(rest))
else
  redis.call('LTRIM', KEYS[1], found + 1, -1)
end
return found + 1
"""

# KEYS: queue, queues.  ARGV: name, digest of the last job confirmed ('' for none).
_DROP = """
local last = redis.call('LINDEX', KEYS[1], -1)
if (last and redis.sha1hex(last) or '') ~= ARGV[2] then return -1 end
local n = redis.call('LLEN', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('UNLINK', KEYS[1])
return n
"""


def digest(raw: bytes) -> str:
    """The SHA-1 of a job's bytes, as Lua's ``redis.sha1hex`` spells it."""
    return hashlib.sha1(raw).hexdigest()


@dataclass(frozen=True)
class WaitingJob:
    position: int  # 0: the next to be taken
    raw: bytes

    @functools.cached_property
    def payload(self) -> dict[str, Any] | None:
        try:
            doc = json.loads(self.raw)
        except (ValueError, UnicodeDecodeError):
            return None
        return doc if isinstance(doc, dict) else None

    @property
    def class_name(self) -> str:
        p = self.payload
        return str(p.get("class", "")) if p else ""

    @property
    def args(self) -> Any:
        p = self.payload
        return p.get("args", []) if p else None

    @property
    def extra(self) -> dict[str, Any]:
        """The payload's fields besides class and args (enqueued_at, id, ...)."""
        p = self.payload or {}
        return {k: v for k, v in p.items() if k not in ("class", "args")}

    @property
    def digest(self) -> str:
        return digest(self.raw)


@dataclass(frozen=True)
class QueuePage:
    name: str
    jobs: list[WaitingJob]
    total: int  # jobs waiting now
    start: int
    count: int
    known: bool  # the name is in ``queues``


def read_page(store: Store, name: str, start: int, count: int) -> QueuePage:
    """``count`` jobs from position ``start``, with the depth: one round trip, three commands."""
    start, count = max(0, start), max(1, count)
    pipe = store.redis.pipeline(transaction=True)
    pipe.llen(store.keys.queue(name))
    pipe.lrange(store.keys.queue(name), start, start + count - 1)
    pipe.sismember(store.keys.queues, name)
    total, raws, known = pipe.execute()
    jobs = [WaitingJob(start + i, _bytes(raw)) for i, raw in enumerate(raws)]
    return QueuePage(name, jobs, int(total), start, count, bool(known))


def snapshot(store: Store, name: str) -> tuple[int, str]:
    """(jobs waiting, digest of the last of them): what a confirmation names."""
    pipe = store.redis.pipeline(transaction=True)
    pipe.llen(store.keys.queue(name))
    pipe.lindex(store.keys.queue(name), -1)
    n, last = pipe.execute()
    return int(n), digest(_bytes(last)) if last is not None else ""


def remove_job(store: Store, name: str, position: int, job_digest: str) -> None:
    """Take out the job shown at ``position`` with ``job_digest``; ResquedError if a worker
    took it (or another tool removed it) meanwhile."""
    if position < 0 or not job_digest:
        raise ResquedError("no job named: give its position and digest")
    script = store.redis.register_script(_REMOVE)
    marker = MARKER + job_digest
    args: list[str | int] = [position, job_digest, WINDOW, marker]
    if not script(keys=[store.keys.queue(name)], args=args):
        raise ResquedError(
            f"that job is no longer waiting on {name}: a worker took it, or it was removed"
        )


def clear_confirmed(store: Store, name: str, count: int, last_digest: str) -> int:
    """Delete the ``count`` jobs that were waiting when confirmed (those still waiting); jobs
    pushed since stay.  Returns how many were deleted."""
    if count <= 0:
        return 0
    script = store.redis.register_script(_CLEAR)
    gone = int(script(keys=[store.keys.queue(name)], args=[count, last_digest, WINDOW]))
    if gone < 0:
        raise ResquedError(
            f"queue {name} changed too much since the confirmation (its last confirmed job "
            "is gone, or more than 1000 were taken): look again"
        )
    return gone


def drop_confirmed(store: Store, name: str, last_digest: str) -> int:
    """``Resque.remove_queue`` (SREM ``queues``, UNLINK the list) if no job was pushed since
    the confirmation named ``last_digest``; returns how many jobs went."""
    if not name:
        raise ResquedError("no queue name given")
    script = store.redis.register_script(_DROP)
    n = int(script(keys=[store.keys.queue(name), store.keys.queues], args=[name, last_digest]))
    if n < 0:
        raise ResquedError(
            f"jobs were pushed to {name} since the confirmation: look again before removing it"
        )
    return n


def _bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value
