"""Asking the operator before a change to many records: a y/N question on a terminal,
``--yes`` otherwise (a script, a pipe, a cron job)."""

from __future__ import annotations

import sys
from typing import TextIO

from resqued.errors import ResquedError


def confirm(
    action: str, yes: bool, stdin: TextIO | None = None, stderr: TextIO | None = None
) -> None:
    """Return once the operator agreed to ``action`` (``--yes``, or ``y`` typed on the
    terminal); raise ResquedError, nothing changed, otherwise.

    ``action`` reads as a question: ``retry 12 failed jobs (queue=mail)``.
    """
    if yes:
        return
    stdin = stdin if stdin is not None else sys.stdin
    stderr = stderr if stderr is not None else sys.stderr
    if stdin is None or stdin.closed or not stdin.isatty():
        raise ResquedError(f"refusing to {action} without --yes (stdin is not a terminal to ask)")
    stderr.write(f"{action[:1].upper()}{action[1:]}? [y/N] ")
    stderr.flush()
    answer = stdin.readline()
    if answer.strip().lower() not in ("y", "yes"):
        raise ResquedError("not confirmed: nothing changed")
