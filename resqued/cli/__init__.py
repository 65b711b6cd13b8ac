"""The ``resqued`` command: ``main()`` sets the process title, then dispatches on the first word.

``resqued [options]`` runs a master (``run``); ``resqued work|status|failed|queues|schedule|
web|quit-and-wait|pause|resume ...`` run the other commands, one module each.  The title is set
before anything else is imported (a ``--redis`` URL in the command line may
hold a password, and ``ps`` shows the command line until then); only the
command that runs is imported after it.
"""

from __future__ import annotations

import sys

# command word -> (module under resqued.cli, function taking the remaining arguments)
COMMANDS: dict[str, tuple[str, str]] = {
    "work": ("work", "main"),
    "status": ("status", "main"),
    "failed": ("failed", "main"),
    "queues": ("queues", "main"),
    "schedule": ("schedule", "main"),
    "web": ("web", "main"),
    "quit-and-wait": ("quit_and_wait", "main"),
    "pause": ("pause", "pause"),
    "resume": ("pause", "resume"),
}


def scrub_title(word: str) -> None:
    """Replace the command line ``ps`` shows by our title (Resque's for ``work``)."""
    from resqued.process import proctitle

    if word == "work":
        proctitle.worker("Starting")
    elif word in COMMANDS:
        proctitle.set_title(f"{proctitle.MANAGER_PREFIX} {word}")
    else:
        proctitle.set_title(f"{proctitle.MANAGER_PREFIX} master starting")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    word = argv[0] if argv else ""
    scrub_title(word)
    import importlib

    from resqued.cli.common import guarded

    if word in COMMANDS:
        module, function = COMMANDS[word]
        command = getattr(importlib.import_module(f"resqued.cli.{module}"), function)
        return int(guarded(command, argv[1:]))
    if unknown_command(word):
        return 2
    from resqued.cli.run import run_master

    return guarded(run_master, argv)


def unknown_command(word: str) -> bool:
    """Report a first word that is neither an option, a command, nor a config file (a typo)."""
    import difflib
    import os

    if not word or word.startswith("-") or os.path.exists(word) or "/" in word or "." in word:
        return False
    close = difflib.get_close_matches(word, COMMANDS, n=1)
    hint = (
        f"did you mean {close[0]!r}?"
        if close
        else f"commands: {', '.join(COMMANDS)}; a config file must exist"
    )
    print(f"resqued: unknown command {word!r} ({hint})", file=sys.stderr)
    return True
