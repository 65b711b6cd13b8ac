"""Retry and remove of many failed jobs as an operator confirmed them: the records that
were in the list then, never the ones recorded since.

A confirmation names the list as it was: its length (``upto``) and the identity of
its newest record then (``tail``).  Failures are appended, so the confirmed records
are the first ``upto``; before acting, the record at ``upto - 1`` must still be that
tail (else records were removed or the list cleared meanwhile: the operator looks
again), and only records below ``upto`` are touched.  "Clear all" deletes the first
``upto`` records in one script, keeping any recorded since.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from resqued.resque.failed import FailedJobError, FailedList, FailureFilter, retryable
from resqued.resque.failed_bulk import BlockPlan
from resqued.resque.failed_pages import narrows
from resqued.resque.failed_record import identity
from resqued.resque.store import Store

KEEP_MAX = 1000  # records recorded since the confirmation moved aside by a clear (else LTRIM)

# KEYS: failed.  ARGV: upto, the record at upto - 1 as just read, KEEP_MAX.
_CLEAR = """
local upto, keep_max = tonumber(ARGV[1]), tonumber(ARGV[3])
if redis.call('LINDEX', KEYS[1], upto - 1) ~= ARGV[2] then return -1 end
local len = redis.call('LLEN', KEYS[1])
if len == upto then
  redis.call('UNLINK', KEYS[1])
elseif len - upto <= keep_max then
  local rest = redis.call('LRANGE', KEYS[1], upto, -1)
  redis.call('UNLINK', KEYS[1])
  redis.call('RPUSH', KEYS[1], unpack(rest))
else
  redis.call('LTRIM', KEYS[1], upto, -1)
end
return upto
"""


@dataclass(frozen=True)
class Confirmed:
    """The failed list as the operator saw it when confirming."""

    upto: int  # records in the list then
    tail: str  # identity of the newest of them ('' when there were none)

    @classmethod
    def take(cls, store: Store) -> Confirmed:
        pipe = store.redis.pipeline(transaction=True)
        pipe.llen(store.keys.failed)
        pipe.lindex(store.keys.failed, -1)
        n, last = pipe.execute()
        return cls(int(n), identity(_bytes(last)) if last is not None else "")


def _bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


class ConfirmedChange:
    def __init__(self, failed: FailedList, seen: Confirmed) -> None:
        self.failed = failed
        self.seen = seen

    def _tail(self, upto: int) -> bytes:
        """The record at ``upto - 1``, checked to be the confirmed tail."""
        raw = self.failed.store.redis.lindex(self.failed.key, upto - 1) if upto > 0 else None
        if raw is None or identity(_bytes(raw)) != self.seen.tail:
            raise FailedJobError(
                "the failed list changed since the confirmation (records were removed or it "
                "was cleared): look again"
            )
        return _bytes(raw)

    def clear(self) -> int:
        """Delete the confirmed records (the whole list as it was); returns how many."""
        if self.seen.upto <= 0:
            return 0
        script = self.failed.store.redis.register_script(_CLEAR)
        for _ in range(3):  # a retry may change the tail record between the read and the script
            raw = self._tail(self.seen.upto)
            gone = int(script(keys=[self.failed.key], args=[self.seen.upto, raw, KEEP_MAX]))
            if gone >= 0:
                if self.failed.index.exists():
                    self.failed.index.reset()
                return gone
        raise FailedJobError("the failed list keeps changing under this command; try again")

    def retry(self, where: FailureFilter) -> int:
        """Retry the confirmed records matching ``where``, oldest first; returns how many."""
        if self.seen.upto <= 0:
            return 0
        upto = self.seen.upto
        done: set[str] = set()
        failed = self.failed

        def once() -> None:
            self._tail(upto)
            for plan in failed.reader.plans(where, indexed=narrows(where), newest_first=False):
                if plan.block.start >= upto:
                    break
                plan.targets = {
                    i: j
                    for i, j in plan.targets.items()
                    if i < upto and retryable(j) and j.identity not in done
                }
                for job in failed.bulk.retry([plan]):
                    done.add(job.identity)

        failed.reader.again(once)
        return len(done)

    def remove(self, where: FailureFilter) -> int:
        """Remove the confirmed records matching ``where``, newest first; returns how many."""
        if where.empty:
            return self.clear()
        if self.seen.upto <= 0:
            return 0
        failed = self.failed
        self._tail(self.seen.upto)
        indexed = narrows(where) or failed.index.exists()
        removed = [0]

        def once() -> None:
            # Every record removed was below the bound: the confirmed ones now end that
            # many places lower.
            below = _below(failed.reader.plans(where, indexed), self.seen.upto - removed[0])
            for n in failed.bulk.remove_in_rounds(below):
                removed[0] += n

        failed.reader.again(once)
        return removed[0]


def _below(plans: Iterable[BlockPlan], upto: int) -> Iterator[BlockPlan]:
    """``plans`` with only their targets below ``upto`` (the plans left with none, left out)."""
    for plan in plans:
        plan.targets = {i: j for i, j in plan.targets.items() if i < upto}
        if plan.targets:
            yield plan
