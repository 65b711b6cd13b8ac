"""An index beside Resque's ``failed`` list: which stretch of the list holds which fields.

The list is cut into *blocks* of consecutive records (up to ``BLOCK``).  For each
block the index keeps its record count and the identity (``failed_record.identity``)
of its first and last record; for each queue, class and exception it keeps how many
records of each block have it.  A filtered page, a retry or a remove by
filter then reads only the blocks that hold matches (one LRANGE each) instead of the
whole list; a page with no filter needs no index at all.

Ruby Resque, pyres and resque-web keep writing the list as before (RPUSH, LSET,
LREM, DEL) and know nothing of the index, so every use first *syncs* it (``sync``):

- records appended since (RPUSH) are indexed, ``BLOCK`` at a time;
- a record removed or a list deleted by someone else shifts the records after it,
  which the identity of the last indexed record shows (and the first and last
  record of every block a page reads).  The first block that moved is found by
  bisection; when every block after it moved by the same few records (resque-web's
  Remove, a click at a time), only that block is indexed again, else the index is
  cut back to it and the rest is indexed again;
- a retry (LSET with ``retried_at``) changes no identity and no field.  Whether a
  record was retried is not indexed: that filter is applied to the records read.

Keys, beside ``<ns>:failed``: ``<ns>:resqued:failed:idx`` (HASH: ``v`` format,
``len`` records covered), ``...:idx:blocks`` (HASH: block id -> ``n head tail``),
``...:idx:v:<value id>`` (HASH: block id -> records with that queue, class or exception;
``value_id``), ``...:idx:b:<block id>`` (HASH: value id -> the same count), ``...:idx:next``
(block ids, never reused).  Every change to
them is one Lua script that first checks the part of the index it changes is
still what was read; no call reads or writes more than a few blocks.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from resqued.resque.failed_record import FailedJob, FailureFilter, Fields, fields_of, identity
from resqued.resque.store import Store, text

BLOCK = 500  # records per block
DROP_BATCH = 16  # blocks dropped per call
MAX_VALUES = 200  # distinct values indexed per call
SHIFT_MAX = 16  # records removed from one block that a repair finds without re-indexing after it
VERSION = "1"
MARKER = b"resqued:removing:"  # a record being removed (failed_bulk): in place, not drift
SYNC_ROUNDS = 8  # repairs in one sync before giving up (the list keeps changing under it)

# KEYS: meta, blocks, the failed list.  ARGV: key prefix, JSON
# {v, len (expected, or -1), want {block id: "n head tail" or ""}, lrem [marker, count]
# or null, dlen, ops}.  The LREM is done whatever the checks say (the caller marked
# those records already); the index changes only if every check passes.
_APPLY = r"""
local base = ARGV[1]
local doc = cjson.decode(ARGV[2])
local removed = 0
if type(doc.lrem) == 'table' then
  removed = redis.call('LREM', KEYS[3], doc.lrem[2], doc.lrem[1])
end
if doc.len >= 0 and tonumber(redis.call('HGET', KEYS[1], 'len') or '0') ~= doc.len then
  return {0, removed}
end
for id, want in pairs(doc.want) do
  if (redis.call('HGET', KEYS[2], id) or '') ~= want then return {0, removed} end
end
local function add(key, name, delta)
  if redis.call('HINCRBY', key, name, delta) <= 0 then redis.call('HDEL', key, name) end
end
for _, op in ipairs(doc.ops) do
  if op[1] == 'v' then
    add(base .. ':v:' .. op[2], op[3], op[4])
    add(base .. ':b:' .. op[3], op[2], op[4])
  elseif op[1] == 'b' then
    redis.call('HSET', KEYS[2], op[2], op[3])
  elseif op[1] == 'drop' then
    local bkey = base .. ':b:' .. op[2]
    for _, vid in ipairs(redis.call('HKEYS', bkey)) do
      redis.call('HDEL', base .. ':v:' .. vid, op[2])
    end
    redis.call('DEL', bkey)
    redis.call('HDEL', KEYS[2], op[2])
  end
end
if doc.dlen ~= 0 then redis.call('HINCRBY', KEYS[1], 'len', doc.dlen) end
redis.call('HSET', KEYS[1], 'v', doc.v)
return {1, removed}
"""


@functools.lru_cache(maxsize=65536)
def value_id(kind: str, value: str) -> str:
    """The id of one indexed value: ``kind`` is q (queue), c (class) or e (exception)."""
    return hashlib.sha1(f"{kind}\0{value}".encode()).hexdigest()[:16]


def values_of(fields: Fields) -> set[tuple[str, str]]:
    """The indexed values of a record with these fields (pyres's stored exception too)."""
    queue, class_name, exception, stored = fields
    return {("q", queue), ("c", class_name), ("e", exception), ("e", stored)}


def is_marker(raw: bytes) -> bool:
    return raw.startswith(MARKER)


@dataclass(frozen=True)
class Block:
    id: int
    start: int  # index in the failed list of its first record
    n: int
    head: str  # identity of its first record
    tail: str  # identity of its last record

    @property
    def end(self) -> int:
        return self.start + self.n - 1

    @property
    def value(self) -> str:
        return f"{self.n} {self.head} {self.tail}"

    def holds(self, raws: list[bytes]) -> bool:
        """Whether ``raws`` (an LRANGE of this block's span) are still this block's records."""
        if len(raws) != self.n:
            return False
        ends = ((raws[0], self.head), (raws[-1], self.tail)) if raws else ()
        return all(is_marker(raw) or identity(raw) == want for raw, want in ends)


@dataclass
class Layout:
    """The index as read at one moment, and the list's length then."""

    blocks: list[Block]
    llen: int
    valid: bool = True  # False: another format (or none of its meta): to be dropped
    starts: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.starts = [b.start for b in self.blocks]

    @property
    def len(self) -> int:
        return self.blocks[-1].end + 1 if self.blocks else 0

    def block_at(self, index: int) -> Block | None:
        i = bisect.bisect_right(self.starts, index) - 1
        if i < 0 or index > self.blocks[i].end:
            return None
        return self.blocks[i]


class IndexChanged(Exception):
    """The part of the index an update was based on changed meanwhile: read it again."""


class FailedIndex:
    """The index of one Redis server's ``failed`` list."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.list_key = store.keys.failed
        self.base = store.keys.prefix + "resqued:failed:idx"
        self.meta, self.blocks_key = self.base, self.base + ":blocks"
        self.next_key = self.base + ":next"
        self._apply = store.redis.register_script(_APPLY)

    # -- reading ---------------------------------------------------------------------

    def read(self) -> Layout:
        """The layout, in one round trip (no sync)."""
        pipe = self.store.redis.pipeline(transaction=False)
        pipe.hgetall(self.meta)
        pipe.hgetall(self.blocks_key)
        pipe.llen(self.list_key)
        meta, raw_blocks, llen = pipe.execute()
        version = text(meta.get(b"v", b""))
        blocks, start = [], 0
        for bid in sorted(int(k) for k in raw_blocks):
            n, head, tail = text(raw_blocks[str(bid).encode()]).split(" ")
            blocks.append(Block(bid, start, int(n), head, tail))
            start += int(n)
        valid = version == VERSION or (not version and not blocks)
        return Layout(blocks, int(llen), valid)

    def exists(self) -> bool:
        return bool(self.store.redis.exists(self.meta))

    def counts(self, layout: Layout, where: FailureFilter) -> dict[int, int]:
        """Block id -> how many of its records can match ``where``: exact when the filter
        names one of queue, class, exception (``where.exact_by_index``), else at most."""
        named = where.named()
        pipe = self.store.redis.pipeline(transaction=False)
        for kind, value in named:
            pipe.hgetall(f"{self.base}:v:{value_id(kind, value)}")
        known = {b.id for b in layout.blocks}
        out: dict[int, int] | None = None
        for per_block in pipe.execute() if named else []:
            these = {int(bid): int(n) for bid, n in per_block.items() if int(bid) in known}
            if out is None:
                out = these
            else:
                out = {bid: min(n, these[bid]) for bid, n in out.items() if bid in these}
        return out or {}

    def read_blocks(self, blocks: list[Block]) -> list[list[bytes]]:
        """Each block's records, one LRANGE each in one round trip."""
        pipe = self.store.redis.pipeline(transaction=False)
        for b in blocks:
            pipe.lrange(self.list_key, b.start, b.end)
        return [list(map(_bytes, raws)) for raws in pipe.execute()] if blocks else []

    # -- keeping it in step with the list ----------------------------------------------

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
        return _is(head, first.head) and _is(tail, last.tail)

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
            if _is(head, b.head) and _is(tail, b.tail):
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
        found = [d for d, raw in enumerate(pipe.execute(), 1) if _is(raw, last.tail)]
        if not found or found[0] >= b.n:
            return False
        d = found[0]
        if k + 1 < len(blocks):
            after = blocks[k + 1]
            pipe = self.store.redis.pipeline(transaction=False)
            pipe.lindex(self.list_key, after.start - d)
            pipe.lindex(self.list_key, after.end - d)
            head, tail = pipe.execute()
            if not (_is(head, after.head) and _is(tail, after.tail)):
                return False
        pipe = self.store.redis.pipeline(transaction=False)
        pipe.lrange(self.list_key, b.start, b.end - d)
        pipe.hgetall(f"{self.base}:b:{b.id}")
        raws, old = pipe.execute()
        raws = [_bytes(raw) for raw in raws]
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
        raws = list(map(_bytes, self.store.redis.lrange(self.list_key, first, start + BLOCK - 1)))
        if last is not None:
            # The record before the new ones must still be the last one indexed.
            if not raws or not _is(raws[0], last.tail):
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
        if last is not None and last.n < BLOCK:
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

    def apply(
        self,
        ops: list[list[Any]],
        want: dict[int, str],
        length: int = -1,
        dlen: int = 0,
        lrem: tuple[bytes, int] | None = None,
    ) -> int:
        """Change the index if ``length`` (unless -1) and the ``want``ed blocks are as given,
        else raise IndexChanged; with ``lrem`` (marker, count), LREM it first regardless.
        Returns how many records the LREM removed."""
        doc = {
            "v": VERSION,
            "len": length,
            "want": {str(k): v for k, v in want.items()},
            "lrem": [lrem[0].decode(), lrem[1]] if lrem else None,
            "dlen": dlen,
            "ops": ops,
        }
        keys = [self.meta, self.blocks_key, self.list_key]
        ok, removed = self._apply(keys=keys, args=[self.base, json.dumps(doc)])
        if not ok:
            raise IndexChanged(int(removed))
        return int(removed)


def field_ops(block_id: int, jobs: Iterable[FailedJob], delta: int) -> list[list[Any]]:
    """The index changes for ``jobs`` entering (+1) or leaving (-1) block ``block_id``."""
    return _value_ops(block_id, (j.fields for j in jobs), delta)


def _value_ops(block_id: int, all_fields: Iterable[Fields], delta: int) -> list[list[Any]]:
    tally: Counter[str] = Counter()
    for fields in all_fields:
        tally.update(value_id(kind, value) for kind, value in values_of(fields))
    return [["v", vid, str(block_id), delta * n] for vid, n in tally.items()]


def _pieces(layout: Layout, raws: list[bytes]) -> list[list[tuple[bytes, set[str]]]]:
    """``raws`` cut where a block fills up or a call would name too many distinct values."""
    last = layout.blocks[-1] if layout.blocks else None
    room = BLOCK - last.n if last is not None and last.n < BLOCK else BLOCK
    pieces: list[list[tuple[bytes, set[str]]]] = [[]]
    seen: set[str] = set()
    for raw in raws:
        vids = {value_id(kind, value) for kind, value in values_of(fields_of(raw))}
        if room == 0 or len(seen | vids) > MAX_VALUES:
            pieces.append([])
            seen = set()
            room = room or BLOCK
        pieces[-1].append((raw, vids))
        seen |= vids
        room -= 1
    return [p for p in pieces if p]


def _is(raw: Any, want: str) -> bool:
    return raw is not None and (is_marker(_bytes(raw)) or identity(_bytes(raw)) == want)


def _bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value
