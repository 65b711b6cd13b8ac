"""A PATH like the current one with some commands taken out (a machine without them)."""

from __future__ import annotations

import os
from pathlib import Path

SERVERS = ("redis-server", "valkey-server")


def path_without(names: tuple[str, ...], farm: Path, path: str | None = None) -> str:
    """A one-directory PATH of links to every command on ``path`` except ``names``.

    The first command of each name wins, as on the PATH itself.
    """
    farm.mkdir(parents=True, exist_ok=True)
    for directory in (path if path is not None else os.environ.get("PATH", "")).split(os.pathsep):
        if not directory or not os.path.isdir(directory):
            continue
        for entry in os.scandir(directory):
            link = farm / entry.name
            if entry.name in names or link.exists() or link.is_symlink():
                continue
            if entry.is_file() and os.access(entry.path, os.X_OK):
                link.symlink_to(os.path.abspath(entry.path))
    return str(farm)
