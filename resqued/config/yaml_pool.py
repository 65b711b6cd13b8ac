"""resque-pool's YAML format: ``"foo,bar": 2`` entries and per-environment sections."""

from __future__ import annotations

import os
from typing import Any

import yaml

from resqued.config import values
from resqued.config.model import Config, WorkerSlot
from resqued.errors import ConfigError


def environment(explicit: str | None = None) -> str | None:
    return (
        explicit
        or os.environ.get("RESQUE_ENV")
        or os.environ.get("RAILS_ENV")
        or os.environ.get("RACK_ENV")
    )


def counts(doc: dict[str, Any], env: str | None) -> dict[str, int]:
    """Top-level entries, overridden by the chosen environment's section."""
    merged: dict[str, int] = {}
    for key, value in doc.items():
        if not isinstance(value, dict):
            merged[str(key)] = values.count(value, f"workers for {key!r}")
    if env and isinstance(doc.get(env), dict):
        for key, value in doc[env].items():
            merged[str(key)] = values.count(value, f"workers for {key!r} in {env!r}")
    return merged


def slots(table: dict[str, int], interval: float | None = None) -> list[WorkerSlot]:
    out: list[WorkerSlot] = []
    for key, n in table.items():
        queues = tuple(q.strip() for q in key.split(",") if q.strip()) or ("*",)
        out += [WorkerSlot(queues, interval)] * n
    return out


def evaluate(path: str, config: Config, env: str | None) -> None:
    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else path
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: invalid YAML: {reason}") from None
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a mapping of queue lists to worker counts")
    try:
        config.workers += slots(counts(doc, environment(env)))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
