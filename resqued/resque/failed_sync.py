"""Keeping the failed index in step with the list that Ruby, pyres and resque-web write.

Every use of the index first syncs it (``SyncedIndex.sync``):

- records appended since (RPUSH) are indexed, a block at a time, in calls of at most
  ``MAX_VALUES`` distinct values;
- a record removed or a list deleted by someone else shifts the records after it,
  which the identity of the last indexed record shows (and the first and last record
  of every block a page reads).  The first block that moved is found by bisection;
  when every block after it moved by the same few records (resque-web's Remove, a
  click at a time), only that block is indexed again, else the index is cut back to
  it (newest block first, ``DROP_BATCH`` a call) and the rest is indexed again;
- a retry (LSET with ``retried_at``) changes no identity and no field: nothing to do.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from resqued.resque import failed_index
from resqued.resque.failed_index import (
    Block,
    FailedIndex,
    IndexChanged,
    Layout,
    as_bytes,
    is_at,
    value_id,
    values_of,
)
from resqued.resque.failed_record import fields_of, identity
from resqued.resque.store import text

DROP_BATCH = 16  # blocks dropped per call
MAX_VALUES = 200  # distinct values indexed per call
SHIFT_MAX = 16  # records removed from one block that a repair finds without re-indexing after it
SYNC_ROUNDS = 8  # repairs in one sync before giving up (the list keeps changing under it)


class SyncedIndex(FailedIndex):
    """The index, brought in step with the list before it is used."""

    def sync(
        self, budget: int | None = None, progress: Callable[[int, int], None] | None = None
    ) -> Layout:
        """Bring the index in step with the list and return its layout.

        ``budget``: index at most this many new records (the rest waits for the next
        sync); ``progress(done, of)`` is called after each block indexed.
        """
        layout = self.read()
        indexed = 0
        for _ in range(SYNC_ROUNDS):
            try:
                if not layout.valid:
                    self.drop_from(layout, 0)
                    layout = self.read()
                    continue
                if not self._in_step(layout):
                    self._repair(layout)
                    layout = self.read()
                    continue
                while layout.len < layout.llen and (budget is None or indexed < budget):
                    before = layout.len
                    layout = self._extend(layout)
                    indexed += layout.len - before
                    if progress is not None:
                        progress(layout.len, layout.llen)
                return layout
            except IndexChanged:
                layout = self.read()
        return layout

    def _in_step(self, layout: Layout) -> bool:
        """Whether the list still holds, where the index says, its first and last record."""
        if not layout.blocks:
            return True
        if layout.llen < layout.len:
            return False
        first, last = layout.blocks[0], layout.blocks[-1]
        pipe = self.store.redis.pipeline(transaction=False)
        pipe.lindex(self.list_key, 0)
        pipe.lindex(self.list_key, last.end)
        head, tail = pipe.execute()
        return is_at(head, first.head) and is_at(tail, last.tail)

    def _first_moved(self, layout: Layout) -> int:
        """The position in ``layout.blocks`` of the first block whose ends moved (bisection:
        a removal moves every block after it)."""
        lo, hi = 0, len(layout.blocks)
        while lo < hi:
            mid = (lo + hi) // 2
            b = layout.blocks[mid]
            pipe = self.store.redis.pipeline(transaction=False)
            pipe.lindex(self.list_key, b.start)
            pipe.lindex(self.list_key, b.end)
            head, tail = pipe.execute()
            if is_at(head, b.head) and is_at(tail, b.tail):
                lo = mid + 1
            else:
                hi = mid
        return lo

    def _repair(self, layout: Layout) -> None:
        """Bring the index back in step after records it covers were removed by someone else:
        the first block that moved is indexed again alone when every block after it moved
        by the same few records (resque-web removed them from that block); otherwise the
        index is cut back to that block."""
        k = self._first_moved(layout)
        if k < len(layout.blocks) and self._shrink(layout, k):
            return
        self.drop_from(layout, k)

    def _shrink(self, layout: Layout, k: int) -> bool:
        """Index block ``k`` again where it lost ``d`` records, if the blocks after it are
        all ``d`` records earlier than the index says; False if they are not."""
        blocks, b = layout.blocks, layout.blocks[k]
        last = blocks[-1]
        pipe = self.store.redis.pipeline(transaction=False)
        for d in range(1, SHIFT_MAX + 1):
            pipe.lindex(self.list_key, last.end - d)
        found = [d for d, raw in enumerate(pipe.execute(), 1) if is_at(raw, last.tail)]
        if not found or found[0] >= b.n:
            return False
        d = found[0]
        if k + 1 < len(blocks):
            after = blocks[k + 1]
            pipe = self.store.redis.pipeline(transaction=False)
            pipe.lindex(self.list_key, after.start - d)
            pipe.lindex(self.list_key, after.end - d)
            head, tail = pipe.execute()
            if not (is_at(head, after.head) and is_at(tail, after.tail)):
                return False
        pipe = self.store.redis.pipeline(transaction=False)
        pipe.lrange(self.list_key, b.start, b.end - d)
        pipe.hgetall(f"{self.base}:b:{b.id}")
        raws, old = pipe.execute()
        raws = [as_bytes(raw) for raw in raws]
        if len(raws) != b.n - d:
            return False
        delta: Counter[str] = Counter()
        for raw in raws:
            delta.update(value_id(kind, v) for kind, v in values_of(fields_of(raw)))
        delta.subtract({text(vid): int(n) for vid, n in old.items()})
        shrunk = replace(b, n=len(raws), head=identity(raws[0]), tail=identity(raws[-1]))
        ops: list[list[Any]] = [["b", str(b.id), shrunk.value]]
        ops += [["v", vid, str(b.id), n] for vid, n in delta.items() if n]
        self.apply(ops=ops, want={b.id: b.value}, length=layout.len, dlen=-d)
        return True

    def drop_from(self, layout: Layout, position: int) -> None:
        """Forget ``layout.blocks[position:]``, newest first, a few blocks a call."""
        blocks = layout.blocks
        while len(blocks) > position:
            batch = blocks[max(position, len(blocks) - DROP_BATCH) :]
            self.apply(
                ops=[["drop", str(b.id)] for b in batch],
                want={b.id: b.value for b in batch},
                length=blocks[-1].end + 1,
                dlen=-sum(b.n for b in batch),
            )
            blocks = blocks[: len(blocks) - len(batch)]

    def reset(self) -> None:
        """Forget the whole index (after the list was deleted)."""
        for _ in range(SYNC_ROUNDS):
            try:
                self.drop_from(self.read(), 0)
                return
            except IndexChanged:
                continue

    def _extend(self, layout: Layout) -> Layout:
        """Index the records after ``layout.len``: one LRANGE of up to ``BLOCK``, committed
        in calls of at most ``MAX_VALUES`` distinct values each."""
        start = layout.len
        last = layout.blocks[-1] if layout.blocks else None
        first = start - 1 if last is not None else 0
        raws = list(
            map(
                as_bytes,
                self.store.redis.lrange(self.list_key, first, start + failed_index.BLOCK - 1),
            )
        )
        if last is not None:
            # The record before the new ones must still be the last one indexed.
            if not raws or not is_at(raws[0], last.tail):
                raise IndexChanged(0)
            raws = raws[1:]
        if not raws:
            return replace(layout, llen=start)
        for piece in _pieces(layout, raws):
            layout = self._commit(layout, piece)
        return layout

    def _commit(self, layout: Layout, piece: list[tuple[bytes, set[str]]]) -> Layout:
        """Add ``piece`` (records, each with its value ids) after the last block: to it while
        it has room, else as a new block."""
        last = layout.blocks[-1] if layout.blocks else None
        start = layout.len
        if last is not None and last.n < failed_index.BLOCK:
            block, want = last, {last.id: last.value}
        else:
            bid = int(self.store.redis.incr(self.next_key))
            block, want = Block(bid, start, 0, identity(piece[0][0]), ""), {}
        grown = replace(block, n=block.n + len(piece), tail=identity(piece[-1][0]))
        tally: Counter[str] = Counter(vid for _, vids in piece for vid in vids)
        ops: list[list[Any]] = [["b", str(grown.id), grown.value]]
        ops += [["v", vid, str(grown.id), n] for vid, n in tally.items()]
        self.apply(ops=ops, want=want, length=start, dlen=len(piece))
        blocks = layout.blocks[:-1] + [grown] if block.n else layout.blocks + [grown]
        return Layout(blocks, max(layout.llen, start + len(piece)))


def _pieces(layout: Layout, raws: list[bytes]) -> list[list[tuple[bytes, set[str]]]]:
    """``raws`` cut where a block fills up or a call would name too many distinct values."""
    last = layout.blocks[-1] if layout.blocks else None
    size = failed_index.BLOCK
    room = size - last.n if last is not None and last.n < size else size
    pieces: list[list[tuple[bytes, set[str]]]] = [[]]
    seen: set[str] = set()
    for raw in raws:
        vids = {value_id(kind, value) for kind, value in values_of(fields_of(raw))}
        if room == 0 or len(seen | vids) > MAX_VALUES:
            pieces.append([])
            seen = set()
            room = room or size
        pieces[-1].append((raw, vids))
        seen |= vids
        room -= 1
    return [p for p in pieces if p]
