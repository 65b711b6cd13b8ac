"""Retry and remove many failed records in bounded steps, keeping the index in step.

Both work on *plans*: the records to change, grouped by the block (or chunk) of the
list they were read in.  Each call to Redis changes at most ``BATCH`` records of one
block, after checking (in the same Lua script) that every one is still the record
read, so a list changed meanwhile by Ruby or another tool never makes us change the
wrong record; a record that changed is left alone and not counted.

Retry sets ``retried_at`` (LSET, the record stays) and pushes the payload (SADD
``queues``, RPUSH ``queue:<q>``), as resque-web does.  Remove does what Resque does
for one record -- LSET a marker, LREM the marker -- for many at once: the records are
marked in batches, then one LREM per side takes every marker out.  Resque's LREM
scans the list from its head for each record; here the records near the head are
taken by an LREM from the head and those near the tail by one from the tail, the
split chosen so that neither scan is longer than it must be (an LREM costs about
50 ns per record it passes: a record in the middle of a list of a million is ~45 ms
away from either end, the one cost no list command avoids).  The index changes in
the same script as each LREM.  Removals go newest block first, ``ROUND`` records at
a time, so the positions of the blocks still to do never move.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from resqued.resque.failed_index import Block, FailedIndex, IndexChanged, field_ops
from resqued.resque.failed_record import FailedJob, identity
from resqued.resque.payload import dumps
from resqued.resque.store import Store

Arg = bytes | str | int
BATCH = 32  # records changed per call (an LSET deep in a long list costs ~0.1 ms)
ROUND = 2000  # records marked before their LREM, so markers never stay long

# KEYS: failed.  ARGV: marker, lo, hi, then (index, record as read) pairs within lo..hi.
_MARK = """
local span = redis.call('LRANGE', KEYS[1], ARGV[2], ARGV[3])
local lo, done = tonumber(ARGV[2]), {}
for i = 4, #ARGV, 2 do
  local at = tonumber(ARGV[i])
  if span[at - lo + 1] == ARGV[i + 1] then
    redis.call('LSET', KEYS[1], at, ARGV[1])
    done[#done + 1] = at
  end
end
return done
"""

# KEYS: failed, queues.  ARGV: lo, hi, then (index, record as read, new record, payload,
# queue, queue key) groups within lo..hi.
_RETRY = """
local span = redis.call('LRANGE', KEYS[1], ARGV[1], ARGV[2])
local lo, done = tonumber(ARGV[1]), {}
for i = 3, #ARGV, 6 do
  local at = tonumber(ARGV[i])
  if span[at - lo + 1] == ARGV[i + 1] then
    redis.call('LSET', KEYS[1], at, ARGV[i + 2])
    redis.call('SADD', KEYS[2], ARGV[i + 4])
    redis.call('RPUSH', ARGV[i + 5], ARGV[i + 3])
    done[#done + 1] = at
  end
end
return done
"""


@dataclass
class BlockPlan:
    """The records to change in one block (or, without an index, one chunk) of the list."""

    block: Block
    indexed: bool  # the block is the index's (its change goes with the LREM)
    idents: list[str]  # identity of each record in the block, in order
    targets: dict[int, FailedJob] = field(default_factory=dict)  # by index in the list

    @classmethod
    def of(cls, block: Block, indexed: bool, raws: list[bytes], jobs: list[FailedJob]) -> BlockPlan:
        idents = [identity(raw) for raw in raws] if indexed else []
        return cls(block, indexed, idents, {j.index: j for j in jobs})

    def index_change(self) -> tuple[list[list[Any]], dict[int, str], int]:
        """(ops, wanted blocks, change of length) once ``targets`` are gone."""
        if not self.indexed:
            return [], {}, 0
        b = self.block
        left = [i for k, i in enumerate(self.idents) if b.start + k not in self.targets]
        ops = field_ops(b.id, self.targets.values(), -1)
        if left:
            ops.append(["b", str(b.id), f"{len(left)} {left[0]} {left[-1]}"])
        else:
            ops.append(["drop", str(b.id)])
        return ops, {b.id: b.value}, -len(self.targets)


class Bulk:
    """The batched scripts of one Redis server."""

    def __init__(self, store: Store, index: FailedIndex) -> None:
        self.store = store
        self.index = index
        self._mark = store.redis.register_script(_MARK)
        self._retry = store.redis.register_script(_RETRY)

    def retry(self, plans: list[BlockPlan]) -> list[FailedJob]:
        """Retry every target of ``plans``; returns those retried (the rest changed meanwhile)."""
        keys = self.store.keys
        done: list[FailedJob] = []
        for plan in plans:
            jobs = sorted(plan.targets.values(), key=lambda j: j.index)
            for i in range(0, len(jobs), BATCH):
                batch = jobs[i : i + BATCH]
                args: list[Arg] = [batch[0].index, batch[-1].index]
                for job in batch:
                    assert job.payload is not None
                    args += [
                        job.index,
                        job.raw,
                        job.retried_record(),
                        dumps(job.payload),
                        job.queue,
                        keys.queue(job.queue),
                    ]
                hit = {int(at) for at in self._retry(keys=[keys.failed, keys.queues], args=args)}
                done += [job for job in batch if job.index in hit]
        return done

    def remove_in_rounds(self, plans: Iterable[BlockPlan]) -> Iterator[int]:
        """Remove the targets of ``plans`` as they are read, about ``ROUND`` at a time;
        yields how many each round removed (so a walk cut short keeps its count)."""
        batch: list[BlockPlan] = []
        size = 0
        for plan in plans:
            batch.append(plan)
            size += len(plan.targets)
            if size >= ROUND:
                yield self.remove(batch)
                batch, size = [], 0
        yield self.remove(batch)

    def remove(self, plans: list[BlockPlan]) -> int:
        """Remove every target of ``plans`` (newest block first); returns how many were."""
        plans = sorted((p for p in plans if p.targets), key=lambda p: -p.block.start)
        removed = 0
        while plans:
            round_: list[BlockPlan] = []
            size = 0
            while plans and (not round_ or size + len(plans[0].targets) <= ROUND):
                size += len(plans[0].targets)
                round_.append(plans.pop(0))
            removed += self._remove_round(round_)
        return removed

    def _remove_round(self, plans: list[BlockPlan]) -> int:
        llen = int(self.store.redis.llen(self.store.keys.failed))
        head, tail = split(sorted(plans, key=lambda p: p.block.start), llen)
        marker_head = b"resqued:removing:" + secrets.token_hex(12).encode() + b":h"
        marker_tail = marker_head[:-1] + b"t"
        for side, marker in ((head, marker_head), (tail, marker_tail)):
            for plan in side:
                self._mark_plan(plan, marker)
        removed = 0
        for side, marker, sign in ((tail, marker_tail, -1), (head, marker_head, 1)):
            count = sum(len(p.targets) for p in side)
            if count:
                removed += self._take_out(side, marker, sign * count)
        return removed

    def _mark_plan(self, plan: BlockPlan, marker: bytes) -> None:
        """LSET the marker over each target still as read; forget the others."""
        jobs = sorted(plan.targets.values(), key=lambda j: j.index)
        marked: set[int] = set()
        for i in range(0, len(jobs), BATCH):
            batch = jobs[i : i + BATCH]
            args: list[Arg] = [marker, batch[0].index, batch[-1].index]
            for job in batch:
                args += [job.index, job.raw]
            marked.update(int(at) for at in self._mark(keys=[self.store.keys.failed], args=args))
        plan.targets = {at: job for at, job in plan.targets.items() if at in marked}

    def _take_out(self, plans: list[BlockPlan], marker: bytes, count: int) -> int:
        """One LREM of ``marker``, with the index change of ``plans`` in the same script."""
        ops: list[list[Any]] = []
        want: dict[int, str] = {}
        dlen = 0
        for plan in plans:
            o, w, d = plan.index_change()
            ops += o
            want.update(w)
            dlen += d
        if not want:
            return int(self.store.redis.lrem(self.store.keys.failed, count, marker.decode()))
        try:
            return self.index.apply(ops=ops, want=want, dlen=dlen, lrem=(marker, count))
        except IndexChanged as changed:
            return int(changed.args[0])  # taken out; the next sync finds the index moved


def split(plans: list[BlockPlan], llen: int) -> tuple[list[BlockPlan], list[BlockPlan]]:
    """Plans (by position) into those an LREM from the head takes and those one from the
    tail takes, so that the longer of the two scans is as short as it can be."""
    best, cut = None, 0
    for s in range(len(plans) + 1):
        head_cost = max(plans[s - 1].targets) + 1 if s > 0 and plans[s - 1].targets else 0
        tail_cost = llen - min(plans[s].targets) if s < len(plans) and plans[s].targets else 0
        cost = (max(head_cost, tail_cost), head_cost + tail_cost)
        if best is None or cost < best:
            best, cut = cost, s
    return plans[:cut], plans[cut:]
