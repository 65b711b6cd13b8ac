"""resque-pool's YAML format: ``"foo,bar": 2`` entries and per-environment sections.

The section is chosen as resque-pool chooses it: ``-E``, else ``$RACK_ENV``,
else ``$RAILS_ENV``, else ``$RESQUE_ENV`` (``resque-pool -E`` sets all three).
ERB tags (``<%= ... %>``), which resque-pool expands with Ruby, are refused with
a one-line error: there is no Ruby here to run them.
"""

from __future__ import annotations

import os
from typing import Any

import yaml

from resqued.config import values
from resqued.config.model import Config, WorkerRow
from resqued.config.source import read_text
from resqued.errors import ConfigError

ENV_VARS = ("RACK_ENV", "RAILS_ENV", "RESQUE_ENV")  # resque-pool's order: the first set wins


def environment(explicit: str | None = None) -> str | None:
    """The environment whose section applies (and what a ``config_loader`` is called with)."""
    if explicit:
        return explicit
    return next((os.environ[name] for name in ENV_VARS if os.environ.get(name)), None)


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


def slots(table: dict[str, int], interval: float | None = None) -> list[WorkerRow]:
    out: list[WorkerRow] = []
    for key, n in table.items():
        queues = tuple(q.strip() for q in key.split(",") if q.strip()) or ("*",)
        out += [WorkerRow(queues, interval)] * n
    return out


def evaluate(path: str, config: Config, env: str | None) -> None:
    text = read_text(path)
    try:
        if (line := _erb_line(text)) is not None:
            raise ConfigError(
                f"{path}:{line}: ERB tags (<% ... %>) are Ruby and cannot be expanded here; "
                "write the counts out, or compute them in a config_loader"
            )
        doc = yaml.safe_load(text)
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


def evaluate_pool_file(config: Config, env: str | None) -> None:
    """``resque-pool``'s YAML file: its entries are the workers, unless a config_loader is set.

    resque-pool's default loader is the file; a custom loader replaces it.
    """
    path = config.compat.pool_yaml
    if path and config.config_loader is None:
        config.sources.append(path)
        evaluate(path, config, env)


def _erb_line(text: str) -> int | None:
    """The line number of the first ERB tag outside a comment, if any."""
    for number, line in enumerate(text.splitlines(), 1):
        if "<%" in line.split("#", 1)[0]:
            return number
    return None
