"""An operator's hand on the delayed queue: its seconds with their counts, one job removed or
queued now (``resqued schedule``, the dashboard's Delayed tab), each change one Lua call.

A job is named by its second and its place in that second's list, with a short
digest of its entry: a list that changed meanwhile (the mover took the job, a
producer removed it) makes the call refuse rather than touch another job.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from resqued.errors import ResquedError
from resqued.resque.delayed import CHANGED, Delayed, destination
from resqued.resque.store import Store

# KEYS: delayed:<epoch>, delayed_queue_schedule.  ARGV: the namespace prefix, the epoch,
# the entry, then 'remove' or 'now' with the queue ('' for failed) and what to push.
# Removes every copy of the entry from that second (as resque-scheduler's
# remove_delayed_job_from_timestamp does; 'now' takes one), forgets the second once
# empty.  Returns how many copies went.
TAKE = r"""
local ns, epoch, entry = ARGV[1], ARGV[2], ARGV[3]
local n = redis.call('LREM', KEYS[1], ARGV[4] == 'now' and 1 or 0, entry)
if n == 0 then return 0 end
if not redis.call('LPOS', KEYS[1], entry) then
  redis.call('SREM', ns .. 'timestamps:' .. entry, KEYS[1])
end
if ARGV[4] == 'now' then
  if ARGV[5] == '' then
    redis.call('RPUSH', ns .. 'failed', ARGV[6])
  else
    redis.call('SADD', ns .. 'queues', ARGV[5])
    redis.call('RPUSH', ns .. 'queue:' .. ARGV[5], ARGV[6])
  end
end
if redis.call('LLEN', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], epoch)
end
return n
"""

OPERATOR = "resqued-operator"  # the "worker" of a failure record an operator's move made


@dataclass(frozen=True)
class Second:
    """One due second of the delayed queue and how many jobs it holds."""

    epoch: int
    jobs: int


def digest(entry: bytes) -> str:
    """A short name of an entry's bytes (12 hex digits)."""
    return hashlib.sha1(entry).hexdigest()[:12]


class DelayedAdmin:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.delayed = Delayed(store)
        self._take = store.redis.register_script(TAKE)

    def seconds(self, start: int = 0, count: int = 50) -> tuple[list[Second], int]:
        """A page of due seconds, earliest first, with their counts; and how many seconds."""
        r, k = self.store.redis, self.store.keys
        epochs = self.delayed.epochs(start, count)
        pipe = r.pipeline(transaction=False)
        for epoch in epochs:
            pipe.llen(k.delayed(epoch))
        pipe.zcard(k.delayed_schedule)
        *counts, total = pipe.execute()
        return [Second(e, int(n)) for e, n in zip(epochs, counts, strict=True)], int(total)

    def entry(self, epoch: int, index: int, expected: str | None = None) -> bytes:
        """The entry at ``index`` of ``epoch``; ResquedError when it is not there (or changed)."""
        found = self.delayed.jobs_at(epoch, index, 1) if index >= 0 else []
        if not found:
            raise ResquedError(f"no delayed job #{index} at {epoch} (see resqued schedule delayed)")
        if expected is not None and digest(found[0]) != expected:
            raise ResquedError(f"delayed job #{index} at {epoch} changed meanwhile: look again")
        return found[0]

    def remove(self, epoch: int, index: int, expected: str | None = None) -> int:
        """Remove the job at ``index`` of ``epoch`` (and its copies there); how many went."""
        item = self.entry(epoch, index, expected)
        return self._call(epoch, item, "remove")

    def enqueue_now(self, epoch: int, index: int, expected: str | None = None) -> int:
        """Queue the job at ``index`` of ``epoch`` now, as the mover would; 1, or 0 if gone."""
        item = self.entry(epoch, index, expected)
        to = destination(item, OPERATOR)
        return self._call(epoch, item, "now", to.queue, to.item)

    def enqueue_second_now(self, epoch: int, batch: int = 100) -> int:
        """Queue every job of ``epoch`` now, in the mover's chunks; how many."""
        moved = 0
        while True:
            n = self.delayed.move(epoch, batch, OPERATOR)
            if n == CHANGED:
                continue
            if n <= 0:
                return moved
            moved += n

    def _call(self, epoch: int, item: bytes, *args: str | bytes) -> int:
        k = self.store.keys
        keys = [k.delayed(epoch), k.delayed_schedule]
        return int(self._take(keys=keys, args=[k.prefix, epoch, item, *args]))
