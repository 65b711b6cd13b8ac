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
    set_title(f"{WORKER_PREFIX}: {state}")
