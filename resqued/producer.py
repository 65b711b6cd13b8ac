"""The producer API: enqueue now or later (resque-scheduler's delayed queue), dequeue, connect."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from resqued import jobs
from resqued.job_hooks import job_hooks
from resqued.resque import delayed, payload
from resqued.resque.store import Store

_store: Store | None = None


def connect(url: str | None = None, namespace: str = "resque") -> Store:
    """Set the connection producers use (default: ``$REDIS_URL``, else localhost)."""
    global _store
    _store = Store.connect(url, namespace)
    return _store


def store() -> Store:
    return _store or connect()


def queue_of(cls: type | str) -> str:
    if not isinstance(cls, type):
        raise ValueError(
            f"{cls!r} is not a job class; for a class name use "
            f"enqueue_to(queue, {cls!r}, ...) or dequeue({cls!r}, ..., queue=...)"
        )
    queue = getattr(cls, "queue", None) or getattr(cls, "_queue", None)
    if not queue:
        raise ValueError(f"{cls.__qualname__} has no 'queue' attribute; use enqueue_to()")
    return str(queue)


def _hooks(cls: type | str) -> Callable[[str], tuple[Callable[..., Any], ...]]:
    """A class's enqueue/dequeue hooks by kind; a class given by name has none here."""
    if isinstance(cls, str):
        return lambda kind: ()
    return lambda kind: job_hooks(cls, kind)


def _encode(name: str, args: tuple[Any, ...]) -> bytes:
    try:
        return payload.encode(name, args)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name}: job arguments must be JSON values ({exc})") from None


def _check_queue(queue: str) -> str:
    if not isinstance(queue, str) or not queue:
        raise ValueError(f"a queue name must be a non-empty string, not {queue!r}")
    return queue


def enqueue(cls: type, *args: Any) -> bool:
    """Queue a job on the class's ``queue``; False when a before_enqueue hook said no."""
    return enqueue_to(queue_of(cls), cls, *args)


def enqueue_to(queue: str, cls: type | str, *args: Any) -> bool:
    """Queue a job on ``queue``. ``cls`` may be a class or a class name (``"Archive"``)."""
    _check_queue(queue)
    name = cls if isinstance(cls, str) else jobs.name_of(cls)
    hooks_of = _hooks(cls)
    for hook in hooks_of("before_enqueue"):
        if hook(*args) is False:
            return False
    store().push(queue, _encode(name, args))
    for hook in hooks_of("after_enqueue"):
        hook(*args)
    return True


def dequeue(cls: type | str, *args: Any, queue: str | None = None) -> int:
    """Remove queued jobs of ``cls`` (with exactly ``args``, or any args when none are given).

    Returns how many were removed; a before_dequeue hook returning False cancels.
    A class given by name needs ``queue``.
    """
    name = cls if isinstance(cls, str) else jobs.name_of(cls)
    queue = _check_queue(queue) if queue is not None else queue_of(cls)
    hooks_of = _hooks(cls)
    for hook in hooks_of("before_dequeue"):
        if hook(*args) is False:
            return 0
    s = store()
    key = s.keys.queue(queue)
    removed = 0
    # LREM compares bytes: redis-py annotates the value as str, but sends bytes unchanged.
    if args:
        removed = int(s.redis.lrem(key, 0, _encode(name, args)))  # type: ignore[arg-type]
    else:
        for raw in s.redis.lrange(key, 0, -1):
            entry = raw if isinstance(raw, bytes) else raw.encode()
            try:
                if payload.decode(queue, entry).class_name == name:
                    removed += int(s.redis.lrem(key, 0, entry))  # type: ignore[arg-type]
            except payload.MalformedPayload:
                continue
    for hook in hooks_of("after_dequeue"):
        hook(*args)
    return removed


# -- later: resque-scheduler's delayed queue (docs/scheduling.md) ---------------------------


def enqueue_at(when: datetime, cls: type, *args: Any) -> bool:
    """Queue a job on the class's ``queue`` at ``when`` (a datetime with a time zone).

    A time already past queues it now, as resque-scheduler does.  False when a
    ``before_schedule`` hook said no.
    """
    return enqueue_at_with_queue(queue_of(cls), when, cls, *args)


def enqueue_in(seconds: float | timedelta, cls: type, *args: Any) -> bool:
    """Queue a job on the class's ``queue`` in ``seconds`` (a number or a timedelta)."""
    return enqueue_in_with_queue(queue_of(cls), seconds, cls, *args)


def enqueue_at_with_queue(queue: str, when: datetime, cls: type | str, *args: Any) -> bool:
    """Queue a job on ``queue`` at ``when``; ``cls`` may be a class or a class name."""
    return _schedule(_check_queue(queue), epoch_of(when), cls, args)


def enqueue_in_with_queue(
    queue: str, seconds: float | timedelta, cls: type | str, *args: Any
) -> bool:
    """Queue a job on ``queue`` in ``seconds``; ``cls`` may be a class or a class name."""
    return _schedule(_check_queue(queue), epoch_in(seconds), cls, args)


enqueue_at_to = enqueue_at_with_queue  # our enqueue_to's spelling
enqueue_in_to = enqueue_in_with_queue


def remove_delayed(cls: type, *args: Any) -> int:
    """Remove the delayed jobs of ``cls`` with exactly ``args``, on its queue; how many."""
    return remove_delayed_in_queue(cls, queue_of(cls), *args)


def remove_delayed_in_queue(cls: type | str, queue: str, *args: Any) -> int:
    """Remove the delayed jobs of ``cls`` with exactly ``args``, bound for ``queue``."""
    item = _entry(_delayed_name(cls), args, _check_queue(queue))
    return delayed.Delayed(store()).remove(item)


def scheduled_at(cls: type, *args: Any, queue: str | None = None) -> list[int]:
    """The epochs (seconds) at which ``cls`` with exactly ``args`` is due, earliest first."""
    queue = _check_queue(queue) if queue is not None else queue_of(cls)
    item = _entry(_delayed_name(cls), args, queue)
    return delayed.Delayed(store()).scheduled_at(item)


def delayed_count() -> int:
    """Every delayed job not yet due or not yet moved (resque-scheduler's count)."""
    return delayed.Delayed(store()).count()


def epoch_of(when: object) -> int:
    """Whole seconds since 1970 of a datetime that has a time zone; ValueError otherwise."""
    if not isinstance(when, datetime):
        raise TypeError(f"a time to run at is a datetime with a time zone, not {when!r}")
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(
            f"{when.isoformat()} has no time zone: give one (datetime.now(timezone.utc) + ...)"
        )
    epoch = when.timestamp()
    if epoch < 0:
        raise ValueError(f"{when.isoformat()} is before 1970: the delayed queue cannot hold it")
    return math.floor(epoch)


def epoch_in(seconds: object) -> int:
    """Whole seconds since 1970 of now plus ``seconds`` (a number or a timedelta)."""
    if isinstance(seconds, timedelta):
        delay = seconds.total_seconds()
    elif isinstance(seconds, int | float) and not isinstance(seconds, bool):
        delay = float(seconds)
    else:
        raise TypeError(f"a delay is a number of seconds or a timedelta, not {seconds!r}")
    if not math.isfinite(delay):
        raise ValueError(f"a delay must be a finite number of seconds, not {seconds!r}")
    epoch = time.time() + delay
    if epoch < 0:
        raise ValueError(f"a delay of {delay:g}s is before 1970: the delayed queue cannot hold it")
    return math.floor(epoch)


def _schedule(queue: str, epoch: int, cls: type | str, args: tuple[Any, ...]) -> bool:
    name = _delayed_name(cls)
    item = _entry(name, args, queue)
    hooks_of = _hooks(cls)
    for hook in hooks_of("before_schedule"):
        if hook(*args) is False:
            return False
    if epoch <= int(time.time()):
        enqueue_to(queue, cls, *args)
    else:
        delayed.Delayed(store()).push(epoch, item)
    for hook in hooks_of("after_schedule"):
        hook(*args)
    return True


def _delayed_name(cls: type | str) -> str:
    """The name a worker will resolve; a class it could never load is refused now."""
    if isinstance(cls, str):
        if not cls.strip():
            raise ValueError("a job class name must not be empty")
        return cls
    if not isinstance(cls, type):
        raise TypeError(f"{cls!r} is not a job class or a class name")
    if not callable(getattr(cls, "perform", None)):
        raise ValueError(f"{cls.__qualname__} is not a job class: it has no perform()")
    name = jobs.name_of(cls)
    if name.startswith("__main__.") or "<locals>" in name:
        raise ValueError(
            f"{cls.__qualname__} is defined in __main__ or inside a function, where no "
            f"worker can find it: register it with @resqued.job({cls.__qualname__!r})"
        )
    return name


def _entry(name: str, args: tuple[Any, ...], queue: str) -> bytes:
    try:
        return delayed.entry(name, args, queue)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name}: job arguments must be JSON values ({exc})") from None
