"""What a worker is told at start: its mode, intervals and limits."""

from __future__ import annotations

from dataclasses import dataclass

from resqued.errors import ConfigError


@dataclass
class WorkerOptions:
    fork_per_job: bool = True
    interval: float = 5.0  # longest idle wait before the queues are looked at again
    jobs_per_fork: int = 0  # exit (to be replaced) after this many jobs; 0 = never
    term_child: bool = False
    term_timeout: float = 4.0
    prune: bool = True
    pause_key: str = ""  # resqued's per-master pause flag, when managed
    parent_pid: int = 0  # exit gracefully when this parent goes away (0 = standalone)


TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def switch(value: str | None, default: bool, name: str) -> bool:
    """An on/off setting such as FORK_PER_JOB or TERM_CHILD, the one parser for them all.

    ``1``/``true``/``yes``/``on`` and ``0``/``false``/``no``/``off`` (any case,
    spaces around ignored); unset or empty means ``default``; anything else is
    a ConfigError naming the setting.
    """
    text = (value or "").strip().lower()
    if not text:
        return default
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ConfigError(
        f"{name} must be one of {', '.join(TRUE_WORDS)} or {', '.join(FALSE_WORDS)}, not {value!r}"
    )
