"""resque-scheduler's schedules, read and checked: the YAML file and the dynamic ones in Redis.

The file maps a name to an entry, as resque-scheduler reads it::

    clear_leaderboards:
      cron: "0 0 * * * America/Chicago"   # or every: "1h" / ["1h", {first_in: "10s"}]
      class: ClearLeaderboards           # default: the entry's name
      queue: low                         # required: the mover never loads job classes
      args: [contributors]               # a list is the arguments; one value is one argument
      description: "Clears the leaderboards"
      rails_env: production, staging     # or env: only in these environments

An entry whose ``rails_env``/``env`` does not list the mover's environment is
left out (none listed: always in); one with neither ``cron`` nor ``every`` is
left out with a warning, as resque-scheduler does.  Anything else wrong is one
``ConfigError`` line naming the entry; a file with one is refused whole, and a
running mover keeps the schedule it had.

Dynamic schedules (``DYNAMIC_SCHEDULE``): ``persistent_schedules`` is a hash of
name to the entry's JSON, ``schedules_changed`` the set of names changed since the
holder of the lock last looked.  An entry there that cannot be used is logged and
left out (it is someone else's data).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

import yaml

from resqued.errors import ConfigError
from resqued.scheduler import timing
from resqued.scheduler.spec import SchedulerSpec

log = logging.getLogger("resqued")


@dataclass
class Entry:
    name: str
    class_name: str
    queue: str
    args: list[Any]
    description: str
    trigger: timing.Trigger

    @property
    def kind(self) -> str:
        return "cron" if isinstance(self.trigger, timing.Cron) else "every"


Schedule = dict[str, Entry]


def load_file(path: str, env: str | None) -> Schedule:
    """The entries of a schedule file for environment ``env``; ConfigError (one line) if bad."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise ConfigError(f"cannot read schedule file {path}: {exc.strerror}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else path
        problem = getattr(exc, "problem", None) or "not YAML"
        raise ConfigError(f"{where}: schedule file is not valid YAML: {problem}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: a schedule file maps names to entries, not a {_kind(doc)}")
    try:
        return parse(doc, env)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def check(spec: SchedulerSpec) -> Schedule:
    """The schedule file a spec names, checked (none named: empty); ConfigError if bad."""
    return load_file(spec.schedule_file, spec.env) if spec.schedule_file else {}


def parse(doc: dict[Any, Any], env: str | None) -> Schedule:
    out: Schedule = {}
    for name, config in doc.items():
        entry = parse_entry(str(name), config, env)
        if entry is not None:
            out[entry.name] = entry
    return out


def parse_entry(name: str, config: object, env: str | None) -> Entry | None:
    """One entry; None when it is not for this environment or has no cron/every."""
    what = f"schedule {name!r}"
    if not isinstance(config, dict):
        raise ConfigError(f"{what}: an entry is a mapping (cron/every, class, queue, args)")
    config = {str(k).lstrip(":"): v for k, v in config.items()}
    wanted = config.get("rails_env") or config.get("env")
    if wanted is not None and not env_matches(str(wanted), env):
        log.debug("%s is for %s, not %s: left out", what, wanted, env)
        return None
    if config.get("custom_job_class"):
        raise ConfigError(f"{what}: custom_job_class needs the application's classes")
    class_name = config.get("class", name)
    if not isinstance(class_name, str) or not class_name.strip():
        raise ConfigError(f"{what}: class must be a class name, not {class_name!r}")
    queue = config.get("queue")
    if not isinstance(queue, str) or not queue.strip():
        raise ConfigError(
            f"{what}: give its queue (the mover does not load {class_name} to ask it)"
        )
    trigger: timing.Trigger | None = None
    if config.get("cron") not in (None, "", []):
        trigger = timing.cron(config["cron"], f"{what} cron")
    elif config.get("every") not in (None, "", []):
        trigger = timing.every(config["every"], f"{what} every")
    if trigger is None:
        log.warning("%s (%s) has no cron or every: left out", what, class_name)
        return None
    description = config.get("description")
    return Entry(
        name, class_name, queue, arguments(config.get("args")), str(description or ""), trigger
    )


def arguments(args: object) -> list[Any]:
    """Ruby's ``args.is_a?(Hash) ? [args] : Array(args)``."""
    if args is None:
        return []
    return list(args) if isinstance(args, list) else [args]


def env_matches(wanted: str, env: str | None) -> bool:
    """``rails_env: "production, staging"`` lists ``env`` (no env set: never)."""
    return bool(env) and env in re.split(r"[\s,]+", wanted.strip())


def parse_dynamic(raw: dict[Any, Any], env: str | None) -> Schedule:
    """``persistent_schedules`` as read (name -> JSON); an entry that cannot be used is logged."""
    out: Schedule = {}
    for key, value in raw.items():
        name = key.decode(errors="replace") if isinstance(key, bytes) else str(key)
        entry = dynamic_entry(name, value, env)
        if entry is not None:
            out[name] = entry
    return out


def dynamic_entry(name: str, value: bytes | str | None, env: str | None) -> Entry | None:
    if value is None:
        return None
    try:
        config = json.loads(value)
        if isinstance(config, dict) and "class" not in config:
            config["class"] = name
        return parse_entry(name, config, env)
    except ValueError:
        log.error("dynamic schedule %r is not JSON: left out", name)
    except ConfigError as exc:
        log.error("dynamic %s: left out", exc)
    return None


def _kind(value: object) -> str:
    return "list" if isinstance(value, list) else type(value).__name__
