"""The forms a config hook may take, checked when it is declared, and adapted to one call.

Each config hook kind is called with fixed arguments (its "call"); a hook may
take all of them or only some, in the forms the tools we replace use:

========================  ======================================  ==============================
hook                      call                                    forms a hook may take
========================  ======================================  ==============================
``before_exec``           ``()``                                  ``()``
``before_fork``           ``(starter, worker, worker_nr)``        ``()``; resque_starter's 3
``after_fork``            ``(worker, starter, worker_nr)``        ``(worker)``; resque_starter's
                                                                  ``(starter, worker, worker_nr)``;
                                                                  ``()``
``after_exit``            ``(summary,)``                          ``(summary)``; ``(pid, status)``
``after_spawn``           ``(worker, pid, workers)``              resque-pool's 3; ``()``
``teardown``              ``(forker,)``                           ``(forker)``; ``()``
========================  ======================================  ==============================

A hook that fits none of its kind's forms is a ConfigError when it is declared,
naming the forms, instead of a TypeError in a listener or worker later.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from resqued.errors import ConfigError

Pick = Callable[[tuple[Any, ...]], tuple[Any, ...]]

# kind -> [(how many positional arguments, which of the call's arguments it gets)], preferred first
FORMS: dict[str, list[tuple[int, Pick]]] = {
    "before_exec": [(0, lambda a: ())],
    "before_fork": [(0, lambda a: ()), (3, lambda a: a)],
    "after_fork": [(1, lambda a: a[:1]), (3, lambda a: (a[1], a[0], a[2])), (0, lambda a: ())],
    "after_exit": [(1, lambda a: a), (2, lambda a: (a[0].pid, a[0].status))],
    "after_spawn": [(3, lambda a: a), (0, lambda a: ())],
    "teardown": [(1, lambda a: a), (0, lambda a: ())],
}

SAID = {
    "before_exec": "no arguments",
    "before_fork": "no arguments, or (starter, worker, worker_nr) as in resque_starter",
    "after_fork": "(worker), or (starter, worker, worker_nr) as in resque_starter, or none",
    "after_exit": "(summary), or (pid, status)",
    "after_spawn": "(worker, pid, workers) as in resque-pool, or none",
    "teardown": "(forker) as in Resque::Forker, or none",
}


def _binds(fn: Callable[..., Any], n: int) -> bool | None:
    """Whether ``fn`` accepts ``n`` positional arguments; None when its signature is unknown."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    try:
        signature.bind(*range(n))
    except TypeError:
        return False
    return True


def adapt(kind: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` wrapped to take its kind's call; ConfigError if it fits none of the forms."""
    if not callable(fn):
        raise ConfigError(f"{kind} needs a function, not {fn!r}")
    forms = FORMS[kind]
    pick = next((p for n, p in forms if _binds(fn, n)), None)
    if pick is None:
        if all(_binds(fn, n) is None for n, _ in forms):
            pick = forms[0][1]  # a builtin without a signature: assume the usual form
        else:
            name = getattr(fn, "__qualname__", repr(fn))
            raise ConfigError(f"{kind} hook {name} must take {SAID[kind]}")

    @functools.wraps(fn)
    def call(*args: Any) -> Any:
        return fn(*pick(args))

    return call
