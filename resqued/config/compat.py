"""Settings that exist for the tools resqued replaces (docs/migrating/), as plain data.

``resqued`` itself leaves every one of them at its default, so its own command
line and signals keep their meaning.  The ``resque-pool`` and ``resque-starter``
commands, ``resqued work`` with ``COUNT``/``WORKER_COUNT``, ``--fast-exit`` and a
few config names (``relay_signals``, ``teardown``, ...) set them.  The master
reads them from the config's view (``view()``), never from user code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from resqued.errors import ConfigError

# What a master does on QUIT, INT or TERM: which signal its workers get (through the
# listeners), and whether it waits for them before it exits.
STOP_ACTIONS = {
    "quit-wait": ("QUIT", True),  # resqued's QUIT: graceful, the master waits
    "term-wait": ("TERM", True),  # resqued's TERM/INT: stop now, the master waits (KILL later)
    "quit-exit": ("QUIT", False),  # resque-pool's INT: graceful, the master exits at once
    "term-exit": ("TERM", False),  # resque-pool's default TERM: stop now, the master exits
}
STOP_SIGNALS = ("QUIT", "INT", "TERM")
RELAYABLE = ("USR1", "USR2", "CONT")
WINCH_MODES = ("unless-tty", "always", "never")
LOG_LEVELS = {"debug": 10, "info": 20, "warn": 30, "warning": 30, "error": 40, "fatal": 50}
SHIFT_PERIODS = ("daily", "weekly", "monthly")  # Ruby Logger's (strings or symbols)


@dataclass
class Compat:
    # -- the master (kept as data in the config view) -----------------------------------
    stop: dict[str, str] = field(default_factory=dict)  # QUIT/INT/TERM -> a STOP_ACTIONS key
    relay_signals: list[str] = field(default_factory=list)  # master signals passed to workers
    winch: str = "unless-tty"  # WINCH: resqued's rule, or always / never handled
    retire_signal: str = "QUIT"  # what a HUP sends the listener it replaces
    process_groups: bool = False  # each listener and worker in a process group of its own
    kill_others: bool = False  # once our workers run, INT every other resque-pool master
    lock_file: str | None = None  # a shared flock held by master, listeners and workers
    title: str = ""  # shown in the master's and listeners' titles (resque-pool's appname)
    status_file: str | None = None  # resque_starter's YAML of running workers
    log_level: str | None = None  # resque_starter's log_level, for every process
    log_shift_age: int | str = 0  # rotate the stderr log: old files kept, or daily/weekly/monthly
    log_shift_size: int = 1048576  # ... when it reaches this many bytes
    # -- the listener --------------------------------------------------------------------
    spawn_delay: float = 0.0  # seconds between two worker starts
    pool_interval: float | None = None  # worker_pool(N, interval=...): pool workers only
    queues_from_jobs: bool = False  # no queue configured: $QUEUES, else the job classes'
    pool_yaml: str | None = None  # resque-pool's YAML, replaced by a config_loader
    verbose: bool = False  # listener and workers log at debug level (VERBOSE, forker.verbose)
    terminate: float = 5.0  # seconds teardown hooks may run (Resque::Forker's terminate)
    logger: Any = None  # a logging.Logger the listener and workers log to (forker.logger)

    def view(self, user: str | None = None, group: str | None = None) -> dict[str, Any]:
        """What the master keeps: every JSON-able setting (not the logger), and user()."""
        doc = {k: v for k, v in asdict(self).items() if k != "logger"}
        doc["user"], doc["group"] = user, group
        return doc


def apply(current: Compat, values: dict[str, Any]) -> Compat:
    """``current`` with ``values`` (a command's overrides) set over it; ConfigError if unknown."""
    known = {f.name for f in fields(Compat)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown compatibility setting {unknown[0]!r}")
    merged = {**{f.name: getattr(current, f.name) for f in fields(Compat)}, **values}
    return Compat(**merged)


def stop_action(name: str) -> str:
    if name not in STOP_ACTIONS:
        raise ConfigError(f"stop action must be one of {', '.join(STOP_ACTIONS)}, not {name!r}")
    return name


def relay_names(names: tuple[object, ...]) -> list[str]:
    """``relay_signals("USR1", "SIGUSR2", "cont")`` -> ["USR1", "USR2", "CONT"]."""
    out: list[str] = []
    for raw in names:
        name = str(raw).strip().upper().removeprefix("SIG")
        if name not in RELAYABLE:
            raise ConfigError(
                f"relay_signals: {raw!r} cannot be relayed (only {', '.join(RELAYABLE)})"
            )
        if name not in out:
            out.append(name)
    return out


def log_level(value: object) -> str:
    """resque_starter's log_level: debug, info, warn, error or fatal (any case)."""
    text = str(value).strip().lower()
    if text not in LOG_LEVELS:
        raise ConfigError(
            f"log_level must be one of debug, info, warn, error, fatal, not {value!r}"
        )
    return text


def shift_age(value: object) -> int | str:
    """A count of old log files to keep (0: no rotation), or daily / weekly / monthly
    (``'daily'``, ``:daily`` or ``"Daily"``, as Ruby's Logger takes them)."""
    if isinstance(value, str) and value.strip().lower().lstrip(":") in SHIFT_PERIODS:
        return value.strip().lower().lstrip(":")
    if isinstance(value, bool):
        raise ConfigError(f"log_shift_age must be a count, daily, weekly or monthly, not {value!r}")
    try:
        age = int(str(value).strip())
    except ValueError:
        raise ConfigError(
            f"log_shift_age must be a count, daily, weekly or monthly, not {value!r}"
        ) from None
    if age < 0:
        raise ConfigError(f"log_shift_age must not be negative, not {value!r}")
    return age
