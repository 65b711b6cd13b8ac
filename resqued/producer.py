"""The producer API: enqueue, enqueue_to, dequeue, and the default connection."""

from __future__ import annotations

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


def queue_of(cls: type) -> str:
    queue = getattr(cls, "queue", None) or getattr(cls, "_queue", None)
    if not queue:
        raise ValueError(f"{cls.__qualname__} has no 'queue' attribute; use enqueue_to()")
    return str(queue)


def enqueue(cls: type, *args: Any) -> bool:
    """Queue a job on the class's ``queue``; False when a before_enqueue hook said no."""
    return enqueue_to(queue_of(cls), cls, *args)


def enqueue_to(queue: str, cls: type | str, *args: Any) -> bool:
    """Queue a job on ``queue``. ``cls`` may be a class or a class name (``"Archive"``)."""
    name = cls if isinstance(cls, str) else jobs.name_of(cls)
    hooks_of = (lambda kind: ()) if isinstance(cls, str) else (lambda kind: job_hooks(cls, kind))
    for hook in hooks_of("before_enqueue"):
        if hook(*args) is False:
            return False
    store().push(queue, payload.encode(name, args))
    for hook in hooks_of("after_enqueue"):
        hook(*args)
    return True


def dequeue(cls: type | str, *args: Any, queue: str | None = None) -> int:
    """Remove queued jobs of ``cls`` (with exactly ``args``, or any args when none are given).

    Returns how many were removed; a before_dequeue hook returning False cancels.
    """
    name = cls if isinstance(cls, str) else jobs.name_of(cls)
    queue = queue or queue_of(cls)  # type: ignore[arg-type]
    hooks_of = (lambda kind: ()) if isinstance(cls, str) else (lambda kind: job_hooks(cls, kind))
    for hook in hooks_of("before_dequeue"):
        if hook(*args) is False:
            return 0
    s = store()
    key = s.keys.queue(queue)
    if args:
        removed = s.redis.lrem(key, 0, payload.encode(name, args))
    else:
        removed = 0
        for raw in s.redis.lrange(key, 0, -1):
            try:
                if payload.decode(queue, raw).class_name == name:
                    removed += s.redis.lrem(key, 0, raw)
            except payload.MalformedPayload:
                continue
    for hook in hooks_of("after_dequeue"):
        hook(*args)
    return removed
