"""Process titles, so ``ps`` tells an operator what every process is doing."""

from __future__ import annotations

import time

import setproctitle

from resqued.version import __version__

WORKER_PREFIX = f"resque-{__version__}"  # matches Ruby's live-worker test: resque-[0-9]
MANAGER_PREFIX = f"resqued-{__version__}"


_shown = ""  # the title this process shows now: setting it again would cost a syscall


def set_title(title: str) -> None:
    """Show ``title`` in ps (skipped when it is shown already: a busy worker's job titles
    repeat within a second)."""
    global _shown
    if title != _shown:
        setproctitle.setproctitle(title)
        _shown = title


def worker(state: str) -> None:
    """``resque-<ver>: Waiting for high,low`` and friends (Resque's format)."""
    set_title(worker_title(state))


def processing(queue: str, class_name: str, tag: str = "") -> str:
    """A worker at work, in Resque's words: ``Processing <queue> since <epoch> [<class>]``."""
    return f"Processing {queue} since {int(time.time())} [{class_name}]{tag}"


def worker_title(state: str) -> str:
    """A worker's title, to set later with ``set_title`` (a job child's, made before the fork)."""
    return f"{WORKER_PREFIX}: {state}"
