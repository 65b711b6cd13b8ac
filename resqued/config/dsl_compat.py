"""The config names of the tools resqued replaces, added to the Python DSL.

resque-pool: ``after_prefork`` (= ``after_fork``; several allowed), ``after_spawn``
(a config hook of its own), ``config_loader`` objects with ``call``/``reset``.
resque_starter: ``status_file``, ``log_file``, ``log_level``, ``log_shift_age``,
``log_shift_size``, ``logger`` (``concurrency``, ``dequeue_interval``, ``queues``,
``pid_file`` and ``preload_app`` are in the DSL itself).  Resque::Forker:
``setup``, ``teardown`` (a config hook), ``logger``, ``verbose``,
``very_verbose``, ``terminate``, ``workload``, ``user``.  Any tool's users:
``relay_signals("USR1", "USR2", "CONT")``, the master passing those to the
workers as resque-pool, resque_starter and Resque::Forker masters do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from resqued.config import compat, values
from resqued.config.forker import checked_logger
from resqued.config.model import Config
from resqued.errors import ConfigError

Registrar = Callable[[str], Callable[[Callable[..., Any]], Callable[..., Any]]]


def names(c: Config, hook: Registrar, setups: list[Callable[..., Any]]) -> dict[str, Any]:
    """The extra DSL names, bound to ``c``; ``hook(kind)`` registers a config hook."""

    def setup(fn: Callable[..., Any]) -> Callable[..., Any]:
        if not callable(fn):
            raise ConfigError(f"setup needs a function, not {fn!r}")
        setups.append(fn)
        return fn

    def set_compat(name: str, value: object) -> None:
        setattr(c.compat, name, value)

    def log_file(path: object) -> None:
        text = str(path)
        c.stderr_path = None if text in ("STDOUT", "STDERR") else text

    return {
        "after_prefork": hook("after_fork"),
        "setup": setup,
        "relay_signals": lambda *sigs: set_compat("relay_signals", compat.relay_names(sigs)),
        "logger": lambda lg: set_compat("logger", checked_logger(lg)),
        "verbose": lambda flag=True: set_compat("verbose", bool(flag)),
        "very_verbose": lambda flag=True: set_compat("verbose", bool(flag)),
        "terminate": lambda s: set_compat("terminate", values.seconds(s, "terminate", 0.1)),
        "status_file": lambda path: set_compat("status_file", str(path)),
        "log_file": log_file,
        "log_level": lambda level: set_compat("log_level", compat.log_level(level)),
        "log_shift_age": lambda age: set_compat("log_shift_age", compat.shift_age(age)),
        "log_shift_size": lambda n: set_compat(
            "log_shift_size", values.count(n, "log_shift_size", minimum=1)
        ),
    }


class CallAdapter:
    """A resque-pool-style loader object (``call(env)``, optional ``reset()``) as a callable."""

    def __init__(self, obj: Any) -> None:
        self.obj = obj
        setattr(self, "__qualname__", type(obj).__qualname__)  # names it in log lines  # noqa: B010

    def __call__(self, environment: str | None) -> Any:
        return self.obj.call(environment)

    def reset(self) -> None:
        reset = getattr(self.obj, "reset", None)
        if callable(reset):
            reset()


def loader(obj: Any) -> Any:
    """What ``config_loader(...)`` keeps: the callable itself, or an adapter for ``call``."""
    if callable(obj):
        return obj
    if callable(getattr(obj, "call", None)):
        return CallAdapter(obj)
    raise ConfigError(f"config_loader needs a function or an object with call(), not {obj!r}")
