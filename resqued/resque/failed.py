"""The ``failed`` list, read and changed as resque-web does (``Resque::Failure::Redis``).

A failed job is named by its index in the list (0 is the oldest), the same id
resque-web shows.  Retrying sets ``retried_at`` in the record (LSET, the record
stays) and pushes the job to its original queue (SADD ``queues`` + RPUSH);
removing takes the record out (LSET to a marker, LREM the marker).  Each change
checks, in the same Lua script, that the record is still the one read, so a
concurrent change never makes us retry or remove the wrong job.

What a request costs follows its page, not the list: a page without a filter is one
LRANGE; a filter on queue, class or exception reads only the blocks of the list the
index (``failed_index``) says hold matches; retry and remove by filter change
records in bounded batches (``failed_bulk``).  A filter on ``retried`` alone has no
index to narrow it: it reads the list newest first, only as far as its page needs.
"""

from __future__ import annotations

from collections.abc import Iterator

from resqued.resque.failed_bulk import BlockPlan, Bulk
from resqued.resque.failed_index import Block, Layout
from resqued.resque.failed_pages import Page, Reader, narrows
from resqued.resque.failed_record import FailedJob, FailedJobError, FailureFilter
from resqued.resque.failed_sync import SyncedIndex
from resqued.resque.payload import dumps
from resqued.resque.store import Store

__all__ = ["FailedJob", "FailedJobError", "FailedList", "FailureFilter", "Page"]

CHUNK = 500  # records per LRANGE of scan()

# KEYS: failed, queues, queue:<q>.  ARGV: index, record as read, new record, payload, queue.
_RETRY = """
if redis.call('LINDEX', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('LSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[5])
redis.call('RPUSH', KEYS[3], ARGV[4])
return 1
"""


def _bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


class FailedList:
    """Operations on one Redis server's ``failed`` list."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.key = store.keys.failed
        self.index = SyncedIndex(store)
        self.bulk = Bulk(store, self.index)
        self.reader = Reader(store, self.index)
        self._retry = store.redis.register_script(_RETRY)

    def count(self) -> int:
        return int(self.store.redis.llen(self.key))

    def get(self, index: int) -> FailedJob:
        raw = self.store.redis.lindex(self.key, index) if index >= 0 else None
        if raw is None:
            raise FailedJobError(f"no failed job #{index} (the failed list has {self.count()})")
        return FailedJob.parse(index, _bytes(raw))

    def scan(self) -> Iterator[FailedJob]:
        """Every record, oldest first, read in chunks (the whole list: for tools, not pages)."""
        start = 0
        while True:
            chunk = self.store.redis.lrange(self.key, start, start + CHUNK - 1)
            for offset, raw in enumerate(chunk):
                yield FailedJob.parse(start + offset, _bytes(raw))
            if len(chunk) < CHUNK:
                return
            start += CHUNK

    def recent(self, count: int) -> list[FailedJob]:
        """The newest ``count`` records, newest first (one LRANGE)."""
        if count <= 0:
            return []
        pipe = self.store.redis.pipeline(transaction=True)
        pipe.llen(self.key)
        pipe.lrange(self.key, -count, -1)
        total, raws = pipe.execute()
        first = int(total) - len(raws)
        return [
            FailedJob.parse(first + i, _bytes(raw)) for i, raw in reversed(list(enumerate(raws)))
        ]

    # -- pages --------------------------------------------------------------------------

    def list(
        self,
        where: FailureFilter | None = None,
        start: int = 0,
        count: int = 20,
        before: int | None = None,
    ) -> Page:
        """One page of the jobs matching ``where``, newest first: skip ``start`` matches
        (of those older than job ``before``, when given)."""
        where = where or FailureFilter()
        start, count = max(0, start), max(0, count)
        if where.empty:
            total = self.count()
            below = total if before is None else min(total, max(0, before))
            hi = below - 1 - start
            lo = max(0, hi - count + 1)
            raws = self.store.redis.lrange(self.key, lo, hi) if hi >= 0 and count else []
            jobs = [FailedJob.parse(lo + i, _bytes(raw)) for i, raw in enumerate(raws)]
            return Page(jobs[::-1], below if before is not None else total, start, count)
        read = self.reader
        if where.exact_by_index and before is None:
            return read.again(lambda: read.exact_page(where, start, count))
        return read.again(lambda: read.scan_page(where, start, count, before))

    def matching(self, where: FailureFilter) -> int:
        """How many jobs match ``where`` (the index's count, or the blocks that may match read)."""
        return self.reader.matching(where)

    # -- one record ---------------------------------------------------------------------

    def _check(self, index: int, digest: str | None) -> FailedJob:
        job = self.get(index)
        if digest is not None and job.digest != digest:
            raise FailedJobError(f"failed job #{index} changed since it was shown; look again")
        return job

    def retry(self, index: int, digest: str | None = None) -> FailedJob:
        """Re-enqueue one job to its queue and mark it ``retried_at``; return the new record."""
        job = self._check(index, digest)
        retryable(job, strict=True)
        assert job.payload is not None
        keys = self.store.keys
        args: list[bytes | str | int] = [
            job.index,
            job.raw,
            job.retried_record(),
            dumps(job.payload),
            job.queue,
        ]
        if not self._retry(keys=[self.key, keys.queues, keys.queue(job.queue)], args=args):
            raise FailedJobError(f"failed job #{index} changed while retrying it; look again")
        return self.get(index)

    def remove(self, index: int, digest: str | None = None) -> FailedJob:
        """Take one record out of the list; return it."""
        job = self._check(index, digest)

        def once() -> int:
            layout = self.index.sync() if self.index.exists() else Layout([], 0)
            block = layout.block_at(index)
            if block is None:
                return self.bulk.remove(
                    [BlockPlan.of(Block(-1, index, 1, "", ""), False, [], [job])]
                )
            [raws] = self.reader.read([block])
            return self.bulk.remove([BlockPlan.of(block, True, raws, [job])])

        if not self.reader.again(once):
            raise FailedJobError(f"failed job #{index} changed while removing it; look again")
        return job

    # -- many records -------------------------------------------------------------------

    def retry_matching(self, where: FailureFilter | None = None) -> int:
        """Retry every job matching ``where`` (all of them without one), as resque-web's
        "Retry Failed Jobs" does (already retried ones too, unless ``retried=False``).
        Jobs that cannot be retried (no queue or class) are skipped.  Returns how many."""
        where = where or FailureFilter()
        done: set[str] = set()  # identities retried: a walk started again skips them

        def once() -> None:
            for plan in self.reader.plans(where, indexed=narrows(where), newest_first=False):
                plan.targets = {
                    i: j for i, j in plan.targets.items() if retryable(j) and j.identity not in done
                }
                for job in self.bulk.retry([plan]):
                    done.add(job.identity)

        self.reader.again(once)
        return len(done)

    def remove_matching(self, where: FailureFilter | None = None) -> int:
        """Remove every job matching ``where``; returns how many were removed."""
        where = where or FailureFilter()
        if where.empty:
            return self.clear()
        indexed = narrows(where) or self.index.exists()
        removed = [0]

        def once() -> None:
            for n in self.bulk.remove_in_rounds(self.reader.plans(where, indexed)):
                removed[0] += n

        self.reader.again(once)
        return removed[0]

    def clear(self) -> int:
        """Delete the whole list (resque-web's "Clear Failed Jobs"); returns how many it held.

        UNLINK rather than Resque's DEL: the same for every reader, but the memory is freed
        in the background (DEL of a million records holds Redis ~13 ms)."""
        pipe = self.store.redis.pipeline(transaction=True)
        pipe.llen(self.key)
        pipe.unlink(self.key)
        count, _ = pipe.execute()
        if self.index.exists():
            self.index.reset()
        return int(count)


def retryable(job: FailedJob, strict: bool = False) -> bool:
    """Whether ``job`` names what a retry needs; with ``strict``, say why not."""
    reason = None
    if job.record is None:
        reason = "is not a JSON record"
    elif not job.queue:
        reason = "names no queue"
    elif job.payload is None or not job.class_name:
        reason = "names no job class"
    if reason and strict:
        raise FailedJobError(f"failed job #{job.index} {reason}: cannot retry it")
    return reason is None
