"""resque-scheduler's delayed queue in Redis: add, find, count and remove jobs; move what is due.

The keys, byte for byte as resque-scheduler writes them (under the namespace):

- ``delayed_queue_schedule``: a sorted set of epochs (whole seconds), each its own score;
- ``delayed:<epoch>``: the list of the jobs due then, each encoded as
  ``{"class":"Archive","args":[35,"tar"],"queue":"file_serve"}`` (Resque's JSON);
- ``timestamps:<encoded job>``: the set of the ``delayed:<epoch>`` keys holding that job.

Ruby producers, Ruby movers and resque-web's Delayed tab read and write the same
keys.  A due epoch is moved in chunks (``move``), each one Lua call
(``scripts.MOVE_DELAYED``): the chunk leaves ``delayed:<epoch>`` and reaches its
queues in one step, or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from resqued.resque import failure, payload
from resqued.resque.scripts import MOVE_DELAYED
from resqued.resque.store import Store

CHANGED = -1  # the chunk read is no longer the head of the list: read it again
NOT_OURS = -2  # the scheduler lock is held by someone else: stop moving
NO_QUEUE = "resqued::DelayedJobWithoutQueue"  # the failure's exception name
MALFORMED = "resqued::MalformedDelayedJob"


def entry(class_name: str, args: list[Any] | tuple[Any, ...], queue: str) -> bytes:
    """A delayed job as resque-scheduler encodes it: class, args, queue, in that order."""
    return payload.encode(class_name, args, queue=queue)


@dataclass(frozen=True)
class Destination:
    """Where a delayed entry goes when due: a queue and the job it gets, or the failed list."""

    queue: str  # '' means the failed list
    item: bytes


def destination(raw: bytes, mover_id: str) -> Destination:
    """What Ruby's mover would enqueue for ``raw``: ``{"class":..,"args":..}`` on its queue.

    Its ``args`` are made a list as Ruby does (a hash or a single value becomes
    ``[value]``, null becomes ``[]``).  An entry without a queue, or not a job at
    all, cannot be placed without the application's classes (which the mover never
    imports): it goes to the failed list, with the reason, where an operator sees it.
    """
    try:
        job = payload.decode("", raw)
    except payload.MalformedPayload as exc:
        return _failed(payload.malformed_stand_in(raw), MALFORMED, str(exc), mover_id, "", raw)
    args = job.payload.get("args")
    params = [] if args is None else args if isinstance(args, list) else [args]
    queue = job.payload.get("queue")
    doc = {"class": job.class_name, "args": params}
    if not isinstance(queue, str) or not queue:
        why = "a delayed job without a queue (the mover does not load job classes)"
        return _failed(doc, NO_QUEUE, why, mover_id, "", raw)
    try:
        return Destination(queue, payload.dumps(doc))
    except (ValueError, RecursionError) as exc:
        return _failed(payload.malformed_stand_in(raw), MALFORMED, str(exc), mover_id, queue, raw)


def _failed(
    doc: dict[str, Any], exc: str, error: str, mover_id: str, queue: str, raw: bytes
) -> Destination:
    return Destination("", failure.record(doc, exc, error, [], mover_id, queue, raw=raw))


class Delayed:
    """The delayed queue of one namespace."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.redis = store.redis
        self.keys = store.keys
        self._move = self.redis.register_script(MOVE_DELAYED)

    # -- producers ------------------------------------------------------------------------

    def push(self, epoch: int, item: bytes) -> None:
        """resque-scheduler's ``delayed_push``, as one transaction (a mover never sees half)."""
        key = self.keys.delayed(epoch)
        pipe = self.redis.pipeline(transaction=True)
        pipe.rpush(key, item)
        pipe.sadd(self.keys.timestamps(item), key)
        pipe.zadd(self.keys.delayed_schedule, {str(epoch): epoch})
        pipe.execute()

    def remove(self, item: bytes) -> int:
        """Remove every copy of ``item`` from every epoch; how many were removed.

        As resque-scheduler does, an epoch left empty stays in the schedule until a
        mover reaches it (``move`` cleans it up).
        """
        tkey = self.keys.timestamps(item)
        keys = self.redis.smembers(tkey)
        if not keys:
            return 0
        pipe = self.redis.pipeline(transaction=True)
        for key in keys:
            pipe.lrem(key, 0, item)  # type: ignore[arg-type]  # bytes are sent unchanged
            pipe.srem(tkey, key)
        replies = pipe.execute()
        return sum(int(n) for n in replies[::2])

    def scheduled_at(self, item: bytes) -> list[int]:
        """The epochs ``item`` is due at, earliest first."""
        found = self.redis.smembers(self.keys.timestamps(item))
        return sorted(int(_text(key).rpartition(":")[2]) for key in found)

    # -- readers --------------------------------------------------------------------------

    def count(self, page: int = 1000) -> int:
        """Every delayed job (resque-scheduler's ``count_all_scheduled_jobs``).

        One LLEN per due epoch, pipelined a page at a time: its cost grows with the
        number of distinct epochs, not with the jobs.
        """
        total, start = 0, 0
        while True:
            epochs = self.redis.zrange(self.keys.delayed_schedule, start, start + page - 1)
            if not epochs:
                return total
            pipe = self.redis.pipeline(transaction=False)
            for epoch in epochs:
                pipe.llen(self.keys.delayed(_epoch(epoch)))
            total += sum(int(n) for n in pipe.execute())
            start += page

    def epochs(self, start: int = 0, count: int = 100) -> list[int]:
        """Due epochs in order (resque-scheduler's ``delayed_queue_peek``)."""
        found = self.redis.zrange(self.keys.delayed_schedule, start, start + count - 1)
        return [_epoch(e) for e in found]

    def jobs_at(self, epoch: int, start: int = 0, count: int = 100) -> list[bytes]:
        """The entries due at ``epoch`` (resque-scheduler's ``delayed_timestamp_peek``)."""
        return [
            _bytes(e) for e in self.redis.lrange(self.keys.delayed(epoch), start, start + count - 1)
        ]

    def next_due(self, now: int) -> int | None:
        """The earliest epoch at or before ``now``, or None."""
        found = self.redis.zrangebyscore(self.keys.delayed_schedule, "-inf", now, start=0, num=1)
        return _epoch(found[0]) if found else None

    def earliest(self) -> int | None:
        """The earliest epoch of all, due or not (the mover sleeps until it)."""
        found = self.redis.zrange(self.keys.delayed_schedule, 0, 0)
        return _epoch(found[0]) if found else None

    # -- the mover ------------------------------------------------------------------------

    def move(
        self,
        epoch: int,
        limit: int,
        mover_id: str,
        lock_key: str = "",
        owner: str = "",
        ttl: int = 0,
    ) -> int:
        """Move up to ``limit`` jobs due at ``epoch`` to their queues, in one step.

        The number moved (0: the epoch was empty, and is now cleaned up),
        ``CHANGED`` when the list changed under us (call again), ``NOT_OURS`` when
        ``owner`` no longer holds ``lock_key`` (nothing was moved).
        """
        key = self.keys.delayed(epoch)
        raw = [_bytes(r) for r in self.redis.lrange(key, 0, limit - 1)]
        args: list[Any] = [epoch, owner, ttl, self.keys.prefix, len(raw)]
        for item in raw:
            to = destination(item, mover_id)
            args += [item, to.queue, to.item]
        keys = [key, self.keys.delayed_schedule, lock_key or self.keys.delayed_schedule]
        return int(self._move(keys=keys, args=args))


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _epoch(member: Any) -> int:
    """A member of ``delayed_queue_schedule`` (an epoch, as text) as an int."""
    return int(_text(member))
