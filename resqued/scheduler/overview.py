"""The recurring schedules as an operator sees them: each with its last and next run, and
one queued now (``resqued schedule``, the dashboard's Schedule tab).

The schedules are the file's (when one is named: the reader does not know the
mover's) merged with the dynamic ones in ``persistent_schedules``, and any name
``delayed:last_enqueued_at`` holds besides (a schedule that ran once and that
neither knows now).  A cron line's next run is exact; an ``every`` one's is its
last run plus its period, as the mover counts it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from resqued.errors import ResquedError
from resqued.resque import payload
from resqued.resque.schedules import Schedules
from resqued.resque.store import Store, text
from resqued.scheduler import schedule, timing
from resqued.scheduler.schedule import Entry


@dataclass(frozen=True)
class Row:
    name: str
    entry: Entry | None  # None: known only from its last run
    source: str  # file, dynamic, or last run
    last_run: str | None  # as Ruby wrote it (local Time#to_s)
    last_at: float | None
    next_at: float | None  # None: unknown (an every entry that has not run)

    def to_dict(self) -> dict[str, Any]:
        e = self.entry
        return {
            "name": self.name,
            "source": self.source,
            "class": e.class_name if e else None,
            "queue": e.queue if e else None,
            "args": e.args if e else None,
            "cron": e.trigger.text if e and isinstance(e.trigger, timing.Cron) else None,
            "every": e.trigger.text if e and isinstance(e.trigger, timing.Every) else None,
            "description": e.description if e else None,
            "last_run": self.last_run,
            "last_at": self.last_at,
            "next_at": self.next_at,
        }


def parse_last_run(value: str | None) -> float | None:
    """``2024-01-01 13:00:00 +0100`` (Ruby's Time#to_s) as an epoch; None if unreadable."""
    if not value:
        return None
    try:
        return datetime.strptime(value.strip(), "%Y-%m-%d %H:%M:%S %z").timestamp()
    except ValueError:
        return None


def next_run(entry: Entry, last_at: float | None, now: float) -> float | None:
    trigger = entry.trigger
    if isinstance(trigger, timing.Cron):
        try:
            return trigger.first(now)
        except ImportError:  # croniter not installed where this runs
            return None
    if last_at is None:
        return None
    return trigger.after(last_at, now)


def entries(
    store: Store, schedule_file: str | None, env: str | None
) -> dict[str, tuple[Entry, str]]:
    """The schedules by name: the file's, the dynamic ones over them (ConfigError: a bad file)."""
    found: dict[str, tuple[Entry, str]] = {}
    if schedule_file:
        found.update({n: (e, "file") for n, e in schedule.load_file(schedule_file, env).items()})
    dynamic = schedule.parse_dynamic(Schedules(store).persistent(), env)
    found.update({n: (e, "dynamic") for n, e in dynamic.items()})
    return found


def rows(store: Store, schedule_file: str | None, env: str | None, now: float) -> list[Row]:
    known = entries(store, schedule_file, env)
    raw = store.redis.hgetall(store.keys.last_enqueued_at)
    last = {text(k): text(v) for k, v in raw.items()}
    out = []
    for name in sorted(set(known) | set(last)):
        entry, source = known.get(name, (None, "last run"))
        last_at = parse_last_run(last.get(name))
        out.append(
            Row(
                name,
                entry,
                source,
                last.get(name),
                last_at,
                next_run(entry, last_at, now) if entry else None,
            )
        )
    return out


def run_now(store: Store, schedule_file: str | None, env: str | None, name: str) -> Entry:
    """Queue schedule ``name``'s job now, as the mover does at its time (its last run is
    left as it is, as resque-web's Queue now leaves it)."""
    entry = entries(store, schedule_file, env).get(name, (None, ""))[0]
    if entry is None:
        where = f" in {schedule_file} or" if schedule_file else ""
        raise ResquedError(f"no schedule named {name!r}{where} in persistent_schedules")
    store.push(entry.queue, payload.encode(entry.class_name, entry.args))
    return entry
