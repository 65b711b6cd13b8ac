"""Process titles, so ``ps`` tells an operator what every process is doing."""

from __future__ import annotations

import setproctitle

from resqued.version import __version__

WORKER_PREFIX = f"resque-{__version__}"  # matches Ruby's live-worker test: resque-[0-9]
MANAGER_PREFIX = f"resqued-{__version__}"


def set_title(title: str) -> None:
    setproctitle.setproctitle(title)


def worker(state: str) -> None:
    """``resque-<ver>: Waiting for high,low`` and friends (Resque's format)."""
    set_title(worker_title(state))


def worker_title(state: str) -> str:
    """A worker's title, to set later with ``set_title`` (a job child's, made before the fork)."""
    return f"{WORKER_PREFIX}: {state}"
