"""An index beside Resque's ``failed`` list: which stretch of the list holds which fields.

The list is cut into *blocks* of consecutive records (up to ``BLOCK``).  For each
block the index keeps its record count and the identity (``failed_record.identity``)
of its first and last record; for each queue, class and exception it keeps how many
records of each block have it.  A filtered page, a retry or a remove by
filter then reads only the blocks that hold matches (one LRANGE each) instead of the
whole list; a page with no filter needs no index at all.

Ruby Resque, pyres and resque-web keep writing the list as before and know nothing
of the index: every use first brings it in step (``failed_sync``).  Whether a record
was retried is not indexed (Ruby's requeue is an LSET nobody is told about): that
filter is applied to the records read.

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
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from resqued.resque.failed_record import FailedJob, FailureFilter, Fields, identity
from resqued.resque.store import Store, text

BLOCK = 500  # records per block
VERSION = "1"
MARKER = b"resqued:removing:"  # a record being removed (failed_bulk): in place, not drift

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
        return [list(map(as_bytes, raws)) for raws in pipe.execute()] if blocks else []

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


def is_at(raw: Any, want: str) -> bool:
    """Whether ``raw`` (a reply) is the record of identity ``want``, or a marker over it."""
    return raw is not None and (is_marker(as_bytes(raw)) or identity(as_bytes(raw)) == want)


def as_bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value
