"""Resque's job hooks: found on the job class by name prefix, run around ``perform``.

``before_perform*`` (raising DontPerform skips the job quietly), ``around_perform*``
(generators, nested in alphabetical order), ``after_perform*`` (only on
success), ``on_failure*`` (exception, *args).  What happens when a hook raises
is decided in one place, :mod:`resqued.hooks`.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from functools import cache
from typing import Any

KINDS = (
    "before_perform",
    "around_perform",
    "after_perform",
    "on_failure",
    "before_enqueue",
    "after_enqueue",
    "before_dequeue",
    "after_dequeue",
)


class DontPerform(Exception):
    """Raised by a before_perform hook to skip the job quietly."""


@cache
def job_hooks(cls: type, kind: str) -> tuple[Callable[..., Any], ...]:
    """The class's hooks of one kind, in alphabetical order of their names."""
    names = sorted(n for n in dir(cls) if n.startswith(kind))
    return tuple(getattr(cls, n) for n in names if callable(getattr(cls, n)))


PERFORM_KINDS = ("before_perform", "around_perform", "after_perform")


@cache
def _plain(cls: type) -> bool:
    """Whether the class has no hook around ``perform``."""
    return not any(job_hooks(cls, kind) for kind in PERFORM_KINDS)


def warm(cls: type) -> None:
    """Look up the class's hooks now (a worker does before it forks a job's process).

    A class whose attributes cannot be listed is left to fail its job in the child.
    """
    try:
        _plain(cls)
    except Exception:  # the job's own process raises it again, and fails
        pass


def _around(
    hook: Callable[..., Any], args: list[Any], inner: Callable[[], bool]
) -> Callable[[], bool]:
    """Wrap ``inner`` in a generator hook: code before ``yield`` runs first, after it last."""

    def run() -> bool:
        gen: Generator[Any, Any, Any] = hook(*args)
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
    """Run a job with its hooks. False when a hook chose not to perform it.

    Any exception from the job or from a hook around it propagates: the job failed.
    """
    if _plain(cls):
        cls.perform(*args)  # type: ignore[attr-defined]
        return True
    try:
        for hook in job_hooks(cls, "before_perform"):
            hook(*args)
    except DontPerform:
        return False

    def call() -> bool:
        cls.perform(*args)  # type: ignore[attr-defined]
        return True

    chain = call
    for hook in reversed(job_hooks(cls, "around_perform")):
        chain = _around(hook, args, chain)
    performed = chain()
    if performed:
        for hook in job_hooks(cls, "after_perform"):
            hook(*args)
    return performed
