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

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from resqued.errors import ResquedError
from resqued.resque.failed_bulk import ROUND, BlockPlan, Bulk
from resqued.resque.failed_index import BLOCK, SYNC_ROUNDS, Block, FailedIndex, Layout
from resqued.resque.failed_record import FailedJob, FailureFilter
from resqued.resque.payload import dumps
from resqued.resque.store import Store

__all__ = ["FailedJob", "FailedJobError", "FailedList", "FailureFilter", "Page"]

CHUNK = BLOCK  # records per LRANGE when reading the list without the index
GROUP = 4  # blocks read per round trip when reading on until a page is full
SCAN_BUDGET = 20_000  # records a page without exact counts reads at most
T = TypeVar("T")
Blocks = list[Block]
Jobs = list[FailedJob]
Reads = list[list[bytes]]

# KEYS: failed, queues, queue:<q>.  ARGV: index, record as read, new record, payload, queue.
_RETRY = """
if redis.call('LINDEX', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('LSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[5])
redis.call('RPUSH', KEYS[3], ARGV[4])
return 1
"""


class FailedJobError(ResquedError):
    """A failed job that is not there, changed meanwhile, or cannot be retried."""


class _Moved(Exception):
    """A block read is no longer where the index says: the index is cut back there."""


def _bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


@dataclass(frozen=True)
class Page:
    """One page of matches.  With ``exact``, ``total`` is how many match and the next page
    is ``start + count``; without (a filter the index cannot count, read only as far as
    the page needed), ``total`` is an upper bound and the next page is ``before=more``."""

    jobs: Jobs  # newest first
    total: int
    start: int
    count: int
    exact: bool = True
    more: int | None = None  # without exact: pass as ``before`` for the next page; None: no more


class FailedList:
    """Operations on one Redis server's ``failed`` list."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.key = store.keys.failed
        self.index = FailedIndex(store)
        self.bulk = Bulk(store, self.index)
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
        if where.exact_by_index and before is None:
            return self._again(lambda: self._exact_page(where, start, count))
        return self._again(lambda: self._scan_page(where, start, count, before))

    def matching(self, where: FailureFilter) -> int:
        """How many jobs match ``where``: from the index when it counts them exactly, else by
        reading the blocks that may hold them."""
        if where.empty:
            return self.count()
        if where.exact_by_index:
            return self._again(lambda: sum(self._counts(where)[1].values()))
        return self._again(lambda: sum(len(p.targets) for p in self._plans(where, _narrows(where))))

    def _counts(self, where: FailureFilter) -> tuple[Blocks, dict[int, int]]:
        """The blocks that may hold matches, newest first, and their counts (index)."""
        layout = self.index.sync()
        counts = self.index.counts(layout, where)
        return [b for b in reversed(layout.blocks) if counts.get(b.id)], counts

    def _exact_page(self, where: FailureFilter, start: int, count: int) -> Page:
        """Skip whole blocks by their counts, then read just the blocks the page is in."""
        blocks, counts = self._counts(where)
        chosen: Blocks = []
        skip, need = start, count
        for b in blocks:
            if not chosen and skip >= counts[b.id]:
                skip -= counts[b.id]
                continue
            chosen.append(b)
            need -= counts[b.id] - (skip if len(chosen) == 1 else 0)
            if need <= 0:
                break
        found: Jobs = []
        for block, raws in zip(chosen, self._read(chosen), strict=True):
            found += _matches(where, block, raws)
        return Page(found[skip : skip + count], sum(counts.values()), start, count)

    def _scan_page(self, where: FailureFilter, start: int, count: int, before: int | None) -> Page:
        """Read the blocks that may hold matches newest first, older than ``before``, until
        the page is full or ``SCAN_BUDGET`` records were read; the page says where to go on."""
        if _narrows(where):
            blocks, counts = self._counts(where)
            upper = sum(counts.values())
        else:
            blocks = _chunks(self.count())[::-1]
            upper = sum(b.n for b in blocks)
        if before is not None:
            blocks = [_below(b, before) for b in blocks if b.start < before]
        found: Jobs = []
        read = 0
        for i in range(0, len(blocks), GROUP):
            group = blocks[i : i + GROUP]
            for block, raws in zip(group, self._read(group), strict=True):
                found += _matches(where, block, raws)
            read += sum(b.n for b in group)
            left = i + GROUP < len(blocks)
            if left and (len(found) >= start + count or read >= SCAN_BUDGET):
                jobs = found[start : start + count]
                full = len(jobs) == count and count > 0
                more = jobs[-1].index if full else group[-1].start
                return Page(jobs, upper, start, count, exact=False, more=more)
        jobs = found[start : start + count]
        if before is None:
            return Page(jobs, len(found), start, count)
        rest = jobs[-1].index if len(found) > start + count and jobs else None
        return Page(jobs, len(found), start, count, exact=False, more=rest)

    def _read(self, blocks: Blocks) -> Reads:
        """The blocks' records; a block of the index no longer in place raises _Moved after
        cutting the index back to it."""
        out = self.index.read_blocks(blocks)
        for block, raws in zip(blocks, out, strict=True):
            if block.id >= 0 and not block.holds(raws):
                layout = self.index.read()
                at = next((i for i, b in enumerate(layout.blocks) if b.id == block.id), None)
                if at is not None:
                    self.index.drop_from(layout, at)
                raise _Moved
        return out

    def _again(self, attempt: Callable[[], T]) -> T:
        for _ in range(SYNC_ROUNDS - 1):
            try:
                return attempt()
            except _Moved:
                continue
        try:
            return attempt()
        except _Moved:
            raise FailedJobError(
                "the failed list keeps changing under this command; try again"
            ) from None

    # -- one record ---------------------------------------------------------------------

    def _check(self, index: int, digest: str | None) -> FailedJob:
        job = self.get(index)
        if digest is not None and job.digest != digest:
            raise FailedJobError(f"failed job #{index} changed since it was shown; look again")
        return job

    def retry(self, index: int, digest: str | None = None) -> FailedJob:
        """Re-enqueue one job to its queue and mark it ``retried_at``; return the new record."""
        job = self._check(index, digest)
        _retryable(job, strict=True)
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
            [raws] = self._read([block])
            return self.bulk.remove([BlockPlan.of(block, True, raws, [job])])

        if not self._again(once):
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
            for plan in self._plans(where, indexed=_narrows(where), newest_first=False):
                plan.targets = {
                    i: j
                    for i, j in plan.targets.items()
                    if _retryable(j) and j.identity not in done
                }
                for job in self.bulk.retry([plan]):
                    done.add(job.identity)

        self._again(once)
        return len(done)

    def remove_matching(self, where: FailureFilter | None = None) -> int:
        """Remove every job matching ``where``; returns how many were removed."""
        where = where or FailureFilter()
        if where.empty:
            return self.clear()
        indexed = _narrows(where) or self.index.exists()
        removed = [0]

        def once() -> None:
            batch, size = [], 0
            for plan in self._plans(where, indexed):
                batch.append(plan)
                size += len(plan.targets)
                if size >= ROUND:
                    removed[0] += self.bulk.remove(batch)
                    batch, size = [], 0
            removed[0] += self.bulk.remove(batch)

        self._again(once)
        return removed[0]

    def _plans(
        self, where: FailureFilter, indexed: bool, newest_first: bool = True
    ) -> Iterator[BlockPlan]:
        """The matching records block by block (newest block first, or oldest), read a few
        blocks a round trip; with ``indexed``, the index's blocks (only those with matches
        when the filter names fields), else chunks of the list."""
        if indexed:
            layout = self.index.sync()
            counts = self.index.counts(layout, where) if _narrows(where) else None
            blocks = [b for b in layout.blocks if counts is None or counts.get(b.id)]
        else:
            blocks = _chunks(self.count())
        if newest_first:
            blocks.reverse()
        for i in range(0, len(blocks), GROUP):
            group = blocks[i : i + GROUP]
            for block, raws in zip(group, self._read(group), strict=True):
                jobs = _matches(where, block, raws)
                if jobs:
                    yield BlockPlan.of(block, block.id >= 0, raws, jobs)

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


def _narrows(where: FailureFilter) -> bool:
    """Whether the index can narrow ``where`` (it names a queue, class or exception)."""
    return any(v is not None for v in (where.queue, where.class_name, where.exception))


def _below(block: Block, before: int) -> Block:
    """``block`` cut to its records older than job ``before`` (not checked as a block)."""
    if block.end < before:
        return block
    return Block(-1, block.start, before - block.start, "", "")


def _chunks(llen: int) -> list[Block]:
    """The list cut into chunks of CHUNK records, oldest first (not the index's blocks)."""
    return [Block(-1, s, min(CHUNK, llen - s), "", "") for s in range(0, llen, CHUNK)]


def _matches(where: FailureFilter, block: Block, raws: list[bytes]) -> list[FailedJob]:
    """The records of ``block`` matching ``where``, newest first."""
    out = []
    for offset in range(len(raws) - 1, -1, -1):
        raw = raws[offset]
        if where.might_match(raw):
            job = FailedJob.parse(block.start + offset, raw)
            if where.matches(job):
                out.append(job)
    return out


def _retryable(job: FailedJob, strict: bool = False) -> bool:
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
