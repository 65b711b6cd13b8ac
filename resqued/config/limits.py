"""Guard-rail settings: memory sizes, and limits that only make sense together.

Time limits, memory limits, recycling and stuck detection are described in
docs/guard-rails.md.  Here: the parsers for their values (each error names the
setting, on one line), the DSL names that set them, and the whole-config check
run by ``load`` (so ``--test``, the start and a ``HUP`` all refuse the same
mistakes; a reload refused this way leaves the running workers alone).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from resqued.config import values
from resqued.config.model import Config, WorkerRow
from resqued.errors import ConfigError
from resqued.scoreboard import MAX_THREADS

# SI units are powers of 1000, IEC units (with an i) powers of 1024, as in Kubernetes.
UNITS = {
    "": 1,
    "k": 10**3,
    "m": 10**6,
    "g": 10**9,
    "t": 10**12,
    "ki": 2**10,
    "mi": 2**20,
    "gi": 2**30,
    "ti": 2**40,
}
_SIZE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([kmgt]i?)?b?", re.IGNORECASE)
STUCK_MINIMUM = 2.0  # workers beat every second: anything shorter would kill healthy ones

ROW_SETTINGS = ("job_timeout", "job_soft_timeout", "memory_limit", "memory_soft_limit")


def size(value: object, what: str) -> int:
    """Bytes from ``2GB``, ``512M``, ``512MiB``, ``1.5Gi`` or a plain number (0: off)."""
    if isinstance(value, bool):
        raise ConfigError(_not_a_size(value, what))
    if isinstance(value, int):
        if value < 0:
            raise ConfigError(f"{what} must not be negative, not {value!r}")
        return value
    match = _SIZE.fullmatch(str(value).strip())
    if match is None:
        raise ConfigError(_not_a_size(value, what))
    number, unit = match.groups()
    return int(float(number) * UNITS[(unit or "").lower()])


def _not_a_size(value: object, what: str) -> str:
    return f"{what} must be a size such as 2GB, 512M or 512MiB, not {value!r}"


def seconds(value: object, what: str) -> float:
    return values.seconds(value, what)


def pair(hard: float | None, soft: float | None, name: str, where: str = "") -> None:
    """A soft limit set beside a hard one must be below it (``name``: the hard one's)."""
    if hard and soft and soft >= hard:
        soft_name = name.replace("_", "_soft_", 1)
        raise ConfigError(
            f"{where}{soft_name} ({_shown(soft, name)}) must be below {name} ({_shown(hard, name)})"
        )


def _shown(value: float, name: str) -> str:
    if not name.startswith("memory"):
        return f"{value:g}s"
    for unit in ("Ti", "T", "Gi", "G", "Mi", "M", "Ki", "K"):  # the unit it was likely given in
        scale = UNITS[unit.lower()]
        if value >= scale and value % scale == 0:
            return f"{int(value // scale)}{unit}B"
    return f"{int(value)} bytes"


def row_settings(given: dict[str, Any], where: str) -> dict[str, Any]:
    """The guard-rail keywords of ``worker(...)`` and ``workload(...)``, parsed."""
    out: dict[str, Any] = {}
    for key, value in given.items():
        if key not in ROW_SETTINGS:
            raise ConfigError(f"{where}: unknown setting {key}= (known: {', '.join(ROW_SETTINGS)})")
        if value is None:
            continue
        label = f"{where} {key}"
        out[key] = size(value, label) if key.startswith("memory") else seconds(value, label)
    pair(out.get("job_timeout"), out.get("job_soft_timeout"), "job_timeout", f"{where}: ")
    pair(out.get("memory_limit"), out.get("memory_soft_limit"), "memory_limit", f"{where}: ")
    return out


def dsl_names(c: Config) -> dict[str, Callable[[Any], None]]:
    """The DSL's guard-rail setters: ``job_timeout(300)``, ``memory_limit("2GB")``, ..."""

    def setter(name: str, parse: Callable[[object, str], Any]) -> Callable[[Any], None]:
        return lambda value: setattr(c, name, parse(value, name))

    return {
        "job_timeout": setter("job_timeout", seconds),
        "job_soft_timeout": setter("job_soft_timeout", seconds),
        "memory_limit": setter("memory_limit", size),
        "memory_soft_limit": setter("memory_soft_limit", size),
        "jobs_per_fork_jitter": setter("jobs_per_fork_jitter", values.count),
        "max_age": setter("max_age", seconds),
        "max_age_jitter": setter("max_age_jitter", seconds),
        "stuck_timeout": setter("stuck_timeout", seconds),
    }


def check(config: Config) -> None:
    """Whole-config checks, once every file and flag was applied."""
    pair(config.job_timeout, config.job_soft_timeout, "job_timeout")
    pair(config.memory_limit, config.memory_soft_limit, "memory_limit")
    if 0 < config.stuck_timeout < STUCK_MINIMUM:
        raise ConfigError(
            f"stuck_timeout must be 0 (off) or at least {STUCK_MINIMUM:g} seconds, "
            f"not {config.stuck_timeout:g}"
        )
    if config.threads > MAX_THREADS:
        raise ConfigError(f"threads must be at most {MAX_THREADS}, not {config.threads}")
    for row in config.workers:
        check_row(row)


def check_row(row: WorkerRow) -> None:
    where = f"worker({row.queue_list!r}): "
    pair(row.job_timeout, row.job_soft_timeout, "job_timeout", where)
    pair(row.memory_limit, row.memory_soft_limit, "memory_limit", where)


# Command-line flags: (flag, setting, parser, metavar, help).  ``resqued`` takes all of
# them, ``resqued work`` the time limits (it has no listener to watch memory or age).
Flag = tuple[str, str, Callable[[object, str], Any], str, str]
FLAGS: list[Flag] = [
    ("--job-timeout", "job_timeout", seconds, "SECONDS", "hard time limit per job (0: none)"),
    (
        "--job-soft-timeout",
        "job_soft_timeout",
        seconds,
        "SECONDS",
        "soft time limit: resqued.SoftTimeout is raised in the job",
    ),
    (
        "--memory-limit",
        "memory_limit",
        size,
        "SIZE",
        "kill the job when a worker and its job child pass this PSS (2GB, 512MiB)",
    ),
    (
        "--memory-soft-limit",
        "memory_soft_limit",
        size,
        "SIZE",
        "above this PSS a worker finishes its job and is replaced",
    ),
    (
        "--jobs-per-fork-jitter",
        "jobs_per_fork_jitter",
        values.count,
        "N",
        "add a random 0..N to --jobs-per-fork for each worker process",
    ),
    ("--max-age", "max_age", seconds, "SECONDS", "replace a worker process after this long"),
    (
        "--max-age-jitter",
        "max_age_jitter",
        seconds,
        "SECONDS",
        "add a random 0..SECONDS to --max-age for each worker process",
    ),
    (
        "--stuck-timeout",
        "stuck_timeout",
        seconds,
        "SECONDS",
        "kill and replace a worker that stops reporting for this long (default 60; 0: off)",
    ),
]
WORK_FLAGS = FLAGS[:2]


def add_flags(parser: Any, flags: list[Flag] = FLAGS) -> None:
    for flag, _, _, metavar, text in flags:
        parser.add_argument(flag, metavar=metavar, help=text)


def flag_values(args: Any, flags: list[Flag] = FLAGS) -> dict[str, Any]:
    """The settings given on the command line, parsed (errors name the flag)."""
    out: dict[str, Any] = {}
    for flag, name, parse, _, _ in flags:
        given = getattr(args, name, None)
        if given is not None:
            out[name] = parse(given, flag)
    return out
