"""When a recurring schedule fires: ``every`` (rufus-scheduler's durations) and ``cron`` (fugit's).

``cron`` takes what resque-scheduler's rufus-scheduler (through fugit) takes and
croniter can evaluate: five fields, or six with the seconds first; names of
months and weekdays; ranges, lists and steps; ``L`` (or ``last``, ``-1``) for the
last day of the month; ``mon#2`` and ``fri#-1``/``fri#L``; ``@hourly``,
``@daily``, ``@weekly``, ``@monthly``, ``@yearly`` and ``@noon``; and a time
zone as the last word (``America/Chicago``, ``UTC``, ``+09:00``), else the
mover's local zone.  fugit's own extensions with no croniter equivalent
(``%`` modulo, ``~`` random ranges, ``&``, ``#-2``) are refused by name.
croniter is the ``scheduler`` extra (``pip install 'resqued[scheduler]'``):
``every`` needs nothing.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from resqued.errors import ConfigError

SPECIALS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@noon": "0 12 * * *",
    "@hourly": "0 * * * *",
}
_DAY = r"(?:[0-7]|sun|mon|tue|wed|thu|fri|sat|\*|\?)"
_WEEKDAY = rf"{_DAY}(?:-{_DAY})?(?:/\d+)?(?:#-?(?:\d|l|last))?(?:%\d+(?:\+\d+)?)?|l\d?|\d?l"
_WEEKDAYS = re.compile(rf"(?i)(?:{_WEEKDAY})(?:,(?:{_WEEKDAY}))*")
_TZ_DELTA = re.compile(r"([-+])([01][0-9]|2[0-4]):?(00|15|30|45)")
_UNIT: dict[str, float] = {
    "y": 365 * 86400,
    "M": 30 * 86400,
    "w": 7 * 86400,
    "d": 86400,
    "h": 3600,
    "m": 60,
}
_UNIT.update({"s": 1, "ms": 0.001})
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|[yMwdhms])?")


def parse_duration(value: object, what: str) -> float:
    """rufus-scheduler's durations in seconds: ``30``, ``"30s"``, ``"1h30m"``, ``"1.5h"``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        seconds, pos, text = 0.0, 0, value.strip()
        while pos < len(text):
            m = _DURATION.match(text, pos)
            if not m or m.end() == pos:
                raise ConfigError(f"{what}: {value!r} is not a duration (like 30s, 5m, 1h30m, 2d)")
            seconds += float(m.group(1)) * _UNIT[m.group(2) or "s"]
            pos = m.end()
    else:
        raise ConfigError(f"{what}: {value!r} is not a duration (like 30s, 5m, 1h30m, 2d)")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigError(f"{what}: {value!r} must be a duration above zero")
    return seconds


@dataclass
class Every:
    """``every: 5m``: first at load plus the period (or ``first_in``), then each period."""

    text: str
    period: float
    first_in: float | None = None

    def first(self, now: float) -> float:
        return now + (self.period if self.first_in is None else self.first_in)

    def after(self, fired: float, now: float) -> float:
        """The next time after a run due at ``fired``: runs missed meanwhile are skipped."""
        behind = max(0.0, now - fired)
        return fired + self.period * max(1, math.ceil(behind / self.period))


@dataclass
class Cron:
    """``cron: "0 5 * * * Europe/Berlin"``, evaluated by croniter in the entry's zone."""

    text: str
    expression: str  # croniter's form
    seconds_first: bool
    zone: tzinfo = field(default=UTC)

    def first(self, now: float) -> float:
        return self._next(now)

    def after(self, fired: float, now: float) -> float:
        return self._next(max(fired, now))

    def _next(self, t: float) -> float:
        from croniter import croniter

        start = datetime.fromtimestamp(t, self.zone)
        it = croniter(self.expression, start, second_at_beginning=self.seconds_first)
        found = it.get_next(datetime)
        return float(found.timestamp())


Trigger = Every | Cron


def every(value: object, what: str) -> Every:
    """``every: 5m`` or ``every: ["5m", {first_in: 10s}]``."""
    spec, options = _with_options(value, what)
    text = str(spec)
    first_in = options.get("first_in")
    return Every(
        text,
        parse_duration(spec, what),
        None if first_in is None else _non_negative(first_in, f"{what} first_in"),
    )


def cron(value: object, what: str) -> Cron:
    """``cron: "*/5 * * * *"`` (fugit's forms, see the module's doc)."""
    spec, _ = _with_options(value, what)
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"{what}: a cron line is a string like '*/5 * * * *', not {spec!r}")
    text = spec.strip()
    words = text.split()
    if words[0].startswith("@"):
        if words[0] not in SPECIALS:
            raise ConfigError(f"{what}: {words[0]} is not a cron shorthand (@hourly, @daily, ...)")
        words = SPECIALS[words[0]].split() + words[1:]
    zone = None
    if len(words) == 7 or (len(words) == 6 and not _WEEKDAYS.fullmatch(words[-1])):
        zone = _zone(words[-1], what)  # as fugit reads it: six fields end in weekdays, or a zone
        words = words[:-1]
    if len(words) not in (5, 6):
        raise ConfigError(f"{what}: {text!r} has {len(words)} fields, not 5 (or 6 with seconds)")
    seconds_first = len(words) == 6
    day, week = (3, 5) if seconds_first else (2, 4)
    words[day] = _monthdays(words[day], what)
    words[week] = _weekdays(words[week], what)
    for word in words:
        for sign, name in (("%", "modulo"), ("~", "random range"), ("&", "'&'")):
            if sign in word:
                raise ConfigError(f"{what}: fugit's {name} ({word}) is not supported here")
    entry = Cron(text, " ".join(words), seconds_first, zone or local_zone())
    _croniter_checks(entry, what)
    return entry


def _croniter_checks(entry: Cron, what: str) -> None:
    try:
        from croniter import croniter
    except ImportError:
        raise ConfigError(
            f"{what}: cron schedules need croniter: pip install 'resqued[scheduler]'"
        ) from None
    if not croniter.is_valid(entry.expression, second_at_beginning=entry.seconds_first):
        raise ConfigError(f"{what}: {entry.text!r} is not a valid cron line")
    try:
        entry.first(datetime.now(UTC).timestamp())
    except Exception as exc:  # noqa: BLE001  (croniter's own errors: one line)
        raise ConfigError(f"{what}: {entry.text!r}: {exc}") from None


def _monthdays(word: str, what: str) -> str:
    parts = []
    for part in word.split(","):
        low = part.lower()
        if low in ("l", "last", "-1"):
            parts.append("L")
        elif part.startswith("-"):
            raise ConfigError(f"{what}: fugit's day {part} from the month's end is not supported")
        else:
            parts.append(part)
    return ",".join(parts)


def _weekdays(word: str, what: str) -> str:
    parts = []
    for part in word.split(","):
        day, sep, nth = part.partition("#")
        if sep and nth.lower() in ("-1", "l", "last"):
            parts.append(f"L{_weekday_number(day)}")
        elif sep and nth.startswith("-"):
            raise ConfigError(f"{what}: fugit's {part} (counted from the end) is not supported")
        else:
            parts.append(part)
    return ",".join(parts)


def _weekday_number(day: str) -> int:
    names = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
    return names.index(day.lower()[:3]) if day.lower()[:3] in names else int(day) % 7


def _zone(word: str, what: str) -> tzinfo:
    if m := _TZ_DELTA.fullmatch(word):
        sign = -1 if m.group(1) == "-" else 1
        return timezone(sign * timedelta(hours=int(m.group(2)), minutes=int(m.group(3))))
    try:
        return ZoneInfo(word)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{what}: {word!r} is neither weekdays nor a time zone") from None


def local_zone() -> tzinfo:
    """The mover's own zone ($TZ, else the system's), as fugit uses when a line names none."""
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    try:
        with open("/etc/localtime", "rb") as f:
            return ZoneInfo.from_file(f)
    except (OSError, ValueError):
        return datetime.now().astimezone().tzinfo or UTC


def _with_options(value: object, what: str) -> tuple[Any, dict[str, Any]]:
    """rufus' ``[spec, {options}]`` form, or the spec alone."""
    if isinstance(value, list):
        if len(value) == 2 and isinstance(value[1], dict):
            return value[0], {str(k).lstrip(":"): v for k, v in value[1].items()}
        if value:
            return value[0], {}
        raise ConfigError(f"{what}: an empty list is not a schedule")
    return value, {}


def _non_negative(value: object, what: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and value == 0:
        return 0.0
    return parse_duration(value, what)
