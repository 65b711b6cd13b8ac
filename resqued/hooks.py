"""Resque hooks: job hooks found by method-name prefix, and worker hooks."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cache
from typing import Any

log = logging.getLogger("resqued")

JOB_HOOK_KINDS = (
    "before_perform",
    "around_perform",
    "after_perform",
    "on_failure",
    "before_enqueue",
    "after_enqueue",
    "before_dequeue",
    "after_dequeue",
)
WORKER_HOOK_KINDS = (
    "before_first_fork",
    "before_fork",
    "after_fork",
    "queue_empty",
    "before_pause",
    "after_pause",
    "shutdown",
    "worker_exit",
)


class DontPerform(Exception):
    """Raised by a before_perform hook to skip the job quietly."""


@cache
def job_hooks(cls: type, kind: str) -> tuple[Callable[..., Any], ...]:
    """The class's hooks of one kind, in alphabetical order of their names."""
    names = sorted(n for n in dir(cls) if n.startswith(kind))
    return tuple(getattr(cls, n) for n in names if callable(getattr(cls, n)))


def _around(hook: Callable[..., Any], args: list[Any], inner: Callable[[], bool]):
    """Wrap ``inner`` in a generator hook: code before ``yield`` runs first, after it last."""

    def run() -> bool:
        gen = hook(*args)
        if not hasattr(gen, "send"):
            raise TypeError(f"around_perform hook {hook.__name__} must be a generator (use yield)")
        try:
            next(gen)
        except StopIteration:
            return False  # the hook did not yield: the job is not performed
        try:
            performed = inner()
        except BaseException as exc:
            try:
                gen.throw(exc)
            except StopIteration:
                return True  # the hook handled the exception
            raise
        try:
            next(gen)
        except StopIteration:
            pass
        return performed

    return run


def perform(cls: type, args: list[Any]) -> bool:
    """Run a job with its hooks. False when a hook chose not to perform it."""
    try:
        for hook in job_hooks(cls, "before_perform"):
            hook(*args)
    except DontPerform:
        return False

    def call() -> bool:
        cls.perform(*args)
        return True

    chain = call
    for hook in reversed(job_hooks(cls, "around_perform")):
        chain = _around(hook, args, chain)
    performed = chain()
    if performed:
        for hook in job_hooks(cls, "after_perform"):
            hook(*args)
    return performed


def on_failure(cls: type | None, exc: BaseException, args: list[Any]) -> None:
    """Run on_failure hooks; a hook that raises is logged, never fatal."""
    if cls is None:
        return
    for hook in job_hooks(cls, "on_failure"):
        try:
            hook(exc, *args)
        except Exception as hook_exc:  # noqa: BLE001
            log.error("on_failure hook %s raised %r", getattr(hook, "__name__", hook), hook_exc)


_worker_hooks: dict[str, list[Callable[..., Any]]] = {k: [] for k in WORKER_HOOK_KINDS}


def worker_hook(kind: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: ``@resqued.worker_hook("after_fork")``."""
    if kind not in _worker_hooks:
        raise ValueError(f"unknown worker hook {kind!r}; one of {', '.join(WORKER_HOOK_KINDS)}")

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        _worker_hooks[kind].append(fn)
        return fn

    return register


def run_worker_hooks(kind: str, *args: Any) -> None:
    for fn in _worker_hooks[kind]:
        fn(*args)
