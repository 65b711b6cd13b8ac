"""Reading the failed list through its index: blocks checked as they are read, pages
counted by the index, pages read on until full with a cursor, and the plans of bulk
changes, block by block.  A client that may not write the index (a read-only ACL user,
a replica) reads pages the way of a filter the index cannot count."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import redis

from resqued.resque.failed_bulk import BlockPlan
from resqued.resque.failed_index import BLOCK, Block
from resqued.resque.failed_record import FailedJob, FailedJobError, FailureFilter
from resqued.resque.failed_sync import SYNC_ROUNDS, SyncedIndex
from resqued.resque.store import Store

CHUNK = BLOCK  # records per LRANGE when reading the list without the index
GROUP = 4  # blocks read per round trip when reading on until a page is full
SCAN_BUDGET = 20_000  # records a page without exact counts reads at most
T = TypeVar("T")
Blocks = list[Block]
Jobs = list[FailedJob]
Reads = list[list[bytes]]


class Moved(Exception):
    """A block read is no longer where the index says: the index is cut back there."""


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


class Reader:
    """Reads of one Redis server's failed list, through its index."""

    def __init__(self, store: Store, index: SyncedIndex) -> None:
        self.store = store
        self.index = index

    def llen(self) -> int:
        return int(self.store.redis.llen(self.store.keys.failed))

    def matching(self, where: FailureFilter) -> int:
        """How many jobs match ``where``: from the index when it counts them exactly, else by
        reading the blocks that may hold them."""
        if where.empty:
            return self.llen()
        counted = self.counts(where) if narrows(where) else None
        if counted is not None and where.exact_by_index:
            return sum(counted[1].values())
        indexed = counted is not None
        return self.again(lambda: sum(len(p.targets) for p in self.plans(where, indexed)))

    def counts(self, where: FailureFilter) -> tuple[Blocks, dict[int, int]] | None:
        """The blocks that may hold matches, newest first, and their counts (index); None
        when this client may not write the index (a read-only user, a replica)."""
        try:
            layout = self.index.sync()
        except redis.RedisError as exc:
            if unwritable(exc):
                return None
            raise
        counts = self.index.counts(layout, where)
        return [b for b in reversed(layout.blocks) if counts.get(b.id)], counts

    def exact_page(self, where: FailureFilter, start: int, count: int) -> Page:
        """Skip whole blocks by their counts, then read just the blocks the page is in."""
        counted = self.counts(where)
        if counted is None:
            return self.scan_page(where, start, count, None)
        blocks, counts = counted
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
        for block, raws in zip(chosen, self.read(chosen), strict=True):
            found += _matches(where, block, raws)
        return Page(found[skip : skip + count], sum(counts.values()), start, count)

    def scan_page(self, where: FailureFilter, start: int, count: int, before: int | None) -> Page:
        """Read the blocks that may hold matches newest first, older than ``before``, until
        the page is full or ``SCAN_BUDGET`` records were read; the page says where to go on."""
        counted = self.counts(where) if narrows(where) else None
        if counted is not None:
            blocks, counts = counted
            upper = sum(counts.values())
        else:
            blocks = _chunks(self.llen())[::-1]
            upper = sum(b.n for b in blocks)
        if before is not None:
            blocks = [_below(b, before) for b in blocks if b.start < before]
        found: Jobs = []
        read = 0
        for i in range(0, len(blocks), GROUP):
            group = blocks[i : i + GROUP]
            for block, raws in zip(group, self.read(group), strict=True):
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

    def read(self, blocks: Blocks) -> Reads:
        """The blocks' records; a block of the index no longer in place raises _Moved after
        cutting the index back to it."""
        out = self.index.read_blocks(blocks)
        for block, raws in zip(blocks, out, strict=True):
            if block.id >= 0 and not block.holds(raws):
                layout = self.index.read()
                at = next((i for i, b in enumerate(layout.blocks) if b.id == block.id), None)
                if at is not None:
                    self.index.drop_from(layout, at)
                raise Moved
        return out

    def again(self, attempt: Callable[[], T]) -> T:
        for _ in range(SYNC_ROUNDS - 1):
            try:
                return attempt()
            except Moved:
                continue
        try:
            return attempt()
        except Moved:
            raise FailedJobError(
                "the failed list keeps changing under this command; try again"
            ) from None

    def plans(
        self, where: FailureFilter, indexed: bool, newest_first: bool = True
    ) -> Iterator[BlockPlan]:
        """The matching records block by block (newest block first, or oldest), read a few
        blocks a round trip; with ``indexed``, the index's blocks (only those with matches
        when the filter names fields), else chunks of the list."""
        if indexed:
            layout = self.index.sync()
            counts = self.index.counts(layout, where) if narrows(where) else None
            blocks = [b for b in layout.blocks if counts is None or counts.get(b.id)]
        else:
            blocks = _chunks(self.llen())
        if newest_first:
            blocks.reverse()
        for i in range(0, len(blocks), GROUP):
            group = blocks[i : i + GROUP]
            for block, raws in zip(group, self.read(group), strict=True):
                jobs = _matches(where, block, raws)
                if jobs:
                    yield BlockPlan.of(block, block.id >= 0, raws, jobs)


def unwritable(exc: redis.RedisError) -> bool:
    """Whether ``exc`` says this client may not write (read-only replica, ACL without writes)."""
    if isinstance(exc, redis.exceptions.ReadOnlyError | redis.exceptions.NoPermissionError):
        return True
    text = str(exc)
    return "READONLY" in text or "NOPERM" in text or "can't run this command" in text


def narrows(where: FailureFilter) -> bool:
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
