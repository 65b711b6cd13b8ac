"""The scheduler's settings as plain data: what ``scheduler()`` and ``--scheduler`` set.

A ``SchedulerSpec`` travels inside the master's ``MasterView`` (as JSON, across
the pipe and a USR2) and reaches the mover process in its environment.  Defaults
are resque-scheduler's: a 5 s poll (``RESQUE_SCHEDULER_INTERVAL``), a 180 s lock
(``LOCK_TIMEOUT``), chunks of 100 (``DELAYED_REQUEUE_BATCH_SIZE``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from resqued.errors import ConfigError


@dataclass(frozen=True)
class SchedulerSpec:
    schedule_file: str | None = None  # resque-scheduler's schedule YAML
    interval: float = 5.0  # seconds between two looks at the delayed queue
    lock_timeout: int = 180  # seconds the master lock lives without a renewal
    lock_prefix: str = ""  # RESQUE_SCHEDULER_MASTER_LOCK_PREFIX
    dynamic: bool = False  # DYNAMIC_SCHEDULE: also persistent_schedules / schedules_changed
    env: str | None = None  # the environment rails_env/env entries are matched against
    batch_size: int = 100  # delayed jobs moved in one step

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> SchedulerSpec:
        """A spec from its JSON form; keys it does not know are left out (a newer sender)."""
        if not isinstance(doc, dict):
            raise ValueError("a scheduler spec is a JSON object")
        known = {f.name for f in fields(cls)}
        return checked(cls(), {k: v for k, v in doc.items() if k in known})


def scheduler_setting(
    current: SchedulerSpec | None, enabled: object, settings: dict[str, Any]
) -> SchedulerSpec | None:
    """``scheduler(...)``'s result: ``current`` with ``settings`` (``schedule`` names the
    file), or None for ``scheduler(False)``."""
    if not isinstance(enabled, bool):
        raise ConfigError(f"scheduler() takes True or False first, not {enabled!r}")
    if not enabled:
        return None
    values = dict(settings)
    if "schedule" in values:
        values["schedule_file"] = values.pop("schedule")
    return checked(current or from_environment(os.environ), values)


# resque-scheduler's environment variables, the defaults of ``scheduler()``'s settings
ENVIRONMENT = {
    "RESQUE_SCHEDULER_INTERVAL": "interval",
    "LOCK_TIMEOUT": "lock_timeout",
    "RESQUE_SCHEDULER_MASTER_LOCK_PREFIX": "lock_prefix",
    "DYNAMIC_SCHEDULE": "dynamic",
    "DELAYED_REQUEUE_BATCH_SIZE": "batch_size",
}


def from_environment(env: Mapping[str, str]) -> SchedulerSpec:
    """The defaults resque-scheduler would take from ``env`` (a bad value: one line naming it)."""
    values: dict[str, Any] = {}
    for var, name in ENVIRONMENT.items():
        if (value := env.get(var)) is None:
            continue
        if name == "dynamic":  # Ruby's to_bool: 1, t, true, on (either case) are true
            values[name] = value in ("1", "t", "T", "true", "TRUE", "on", "ON")
        else:
            values[name] = value
    try:
        return checked(SchedulerSpec(), values)
    except ConfigError as exc:
        var = next(v for v, n in ENVIRONMENT.items() if f"scheduler {n} " in str(exc))
        raise ConfigError(f"${var}: {exc}") from None


def checked(base: SchedulerSpec, values: dict[str, Any]) -> SchedulerSpec:
    """``base`` with ``values`` applied, each checked; ConfigError (one line) otherwise."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name == "schedule_file":
            out[name] = None if value is None else _text(value, name)
        elif name == "interval":
            out[name] = _number(value, name, 0.01, 3600.0)
        elif name == "lock_timeout":
            out[name] = int(_number(value, name, 1, 86400))
        elif name == "batch_size":
            out[name] = int(_number(value, name, 1, 10_000))
        elif name == "dynamic":
            if not isinstance(value, bool):
                raise ConfigError(f"scheduler dynamic must be True or False, not {value!r}")
            out[name] = value
        elif name in ("lock_prefix", "env"):
            out[name] = None if value is None and name == "env" else _text(value, name, empty=True)
        else:
            raise ConfigError(f"scheduler() has no setting {name!r}")
    spec = replace(base, **out)
    if spec.lock_timeout <= spec.interval:
        raise ConfigError(
            f"scheduler lock_timeout ({spec.lock_timeout}s) must be longer than its interval "
            f"({spec.interval:g}s): the holder renews the lock once an interval"
        )
    return spec


def _text(value: object, name: str, empty: bool = False) -> str:
    if not isinstance(value, str) or (not empty and not value.strip()):
        raise ConfigError(f"scheduler {name} must be a {'' if empty else 'non-empty '}string")
    return value


def _number(value: object, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"scheduler {name} must be a number, not {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"scheduler {name} must be a number, not {value!r}") from None
    if not low <= number <= high:
        raise ConfigError(f"scheduler {name} must be between {low:g} and {high:g}, not {value!r}")
    return number
