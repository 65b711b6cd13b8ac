"""The ``resqued`` command: ``main()`` dispatches on the first word.

``resqued [options]`` runs a master (``run``); ``resqued work|status|quit-and-wait|
pause|resume ...`` run the other commands, one module each.  Only the command
that runs is imported.
"""

from __future__ import annotations

import importlib
import sys

# command word -> (module under resqued.cli, function taking the remaining argv)
COMMANDS: dict[str, tuple[str, str]] = {
    "work": ("work", "main"),
    "status": ("status", "main"),
    "quit-and-wait": ("quit_and_wait", "main"),
    "pause": ("pause", "pause"),
    "resume": ("pause", "resume"),
}


def main(argv: list[str] | None = None) -> int:
    from resqued import proctitle

    argv = sys.argv[1:] if argv is None else argv
    # Replace the command line in ps at once: it may hold a Redis password.
    if argv and argv[0] == "work":
        proctitle.worker("Starting")
    else:
        proctitle.set_title(f"{proctitle.MANAGER_PREFIX} starting")
    from resqued.cli.common import guarded

    if argv and argv[0] in COMMANDS:
        module, function = COMMANDS[argv[0]]
        command = getattr(importlib.import_module(f"resqued.cli.{module}"), function)
        return guarded(command, argv[1:])
    from resqued.cli.run import run_master

    return guarded(run_master, argv)
