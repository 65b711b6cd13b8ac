"""The producer API: enqueue, enqueue_to, dequeue, and the default connection."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from resqued import jobs
from resqued.job_hooks import job_hooks
from resqued.resque import payload
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
