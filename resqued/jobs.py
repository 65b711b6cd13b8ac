"""Job class resolution: a payload's class name is a security boundary.

A name resolves only through the registry (``@resqued.job("Archive")``) or
through a dotted path into a module the operator allowed (``-r myapp.jobs``).
Resolution never imports anything: text read from Redis cannot load code.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

from resqued.hooks import on_failure
from resqued.resque.retry import Retry

T = TypeVar("T")

_registry: dict[str, type] = {}
_allowed: set[str] = set()


class UnknownJobClass(Exception):
    """The payload names a class that is neither registered nor in an allowed module."""


def job(
    name: str | None = None,
    *,
    timeout: float | None = None,
    soft_timeout: float | None = None,
    retry: Retry | None = None,
) -> Callable[[type[T]], type[T]]:
    """Register a job class under ``name`` (a Ruby name such as ``Mailers::Welcome``).

    The class is also reachable by its dotted Python path, so pyres producers
    can name it too.  ``timeout`` and ``soft_timeout`` set the class's time limits
    (its ``job_timeout`` and ``job_soft_timeout`` attributes; docs/guard-rails.md).
    ``retry`` (``resqued.Retry(limit=3, backoff=[5, 60])``) runs a failed job again,
    as resque-retry does (its ``resqued_retry`` attribute; docs/scheduling.md).
    """
    if retry is not None and not isinstance(retry, Retry):
        raise TypeError(f"retry must be a resqued.Retry(...), not {retry!r}")

    def register(cls: type[T]) -> type[T]:
        if not callable(getattr(cls, "perform", None)):
            raise TypeError(f"{cls.__qualname__} has no perform() method")
        where = f"@resqued.job({name or cls.__qualname__!r})"
        limits = {
            "job_timeout": time_limit(timeout, f"{where} timeout"),
            "job_soft_timeout": time_limit(soft_timeout, f"{where} soft_timeout"),
        }
        hard, soft = limits["job_timeout"], limits["job_soft_timeout"]
        if hard and soft and soft >= hard:
            raise ValueError(f"{where}: soft_timeout ({soft:g}s) must be below timeout ({hard:g}s)")
        for attr, value in limits.items():
            if value is not None:
                setattr(cls, attr, value)
        if retry is not None:
            cls.resqued_retry = retry  # type: ignore[attr-defined]
        _registry[dotted_name(cls)] = cls
        if name:
            _registry[name] = cls
        cls.__resqued_name__ = name or dotted_name(cls)  # type: ignore[attr-defined]
        return cls

    return register


def time_limit(value: object, what: str) -> float | None:
    """A job class's time limit in seconds (None: not set, 0: none); ValueError otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} must be a number of seconds, not {value!r}")
    seconds = float(value)
    if not 0 <= seconds < float("inf"):
        raise ValueError(f"{what} must be a number of seconds of at least 0, not {value!r}")
    return seconds


def allow_module(module: str) -> None:
    """Let payloads name classes by dotted path inside ``module`` (and its submodules)."""
    _allowed.add(module)


def dotted_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def name_of(cls: type) -> str:
    """The class name a payload should carry for ``cls``."""
    return getattr(cls, "__resqued_name__", None) or dotted_name(cls)


def _allowed_module(module: str) -> bool:
    return any(module == m or module.startswith(m + ".") for m in _allowed)


def run_failure_hooks(class_name: str, exc: BaseException, args: list[Any]) -> None:
    """on_failure hooks for a job failed on a dead worker's behalf, if its class resolves here."""
    try:
        cls = resolve(class_name)
    except UnknownJobClass:
        return
    on_failure(cls, exc, args)


def resolve(class_name: str) -> type:
    """The job class for a payload's ``class``; UnknownJobClass with the reason otherwise."""
    cls = _registry.get(class_name)
    if cls is not None:
        return cls
    parts = class_name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:cut])
        if not _allowed_module(module_name):
            continue
        obj: Any = sys.modules.get(module_name)
        if obj is None:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr, None)
        if isinstance(obj, type) and callable(getattr(obj, "perform", None)):
            return obj
    raise UnknownJobClass(
        f"job class {class_name!r} is not registered with @resqued.job and is not "
        "in a module allowed with -r/--require"
    )


def known_classes() -> list[type]:
    """Every job class this process knows: registered ones, then those in allowed modules."""
    found: dict[int, type] = {id(cls): cls for cls in _registry.values()}
    for name, module in list(sys.modules.items()):
        if module is None or not _allowed_module(name):
            continue
        for obj in list(vars(module).values()):
            if isinstance(obj, type) and callable(getattr(obj, "perform", None)):
                found.setdefault(id(obj), obj)
    return list(found.values())
