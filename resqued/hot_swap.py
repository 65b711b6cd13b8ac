"""--hot-swap: start beside a running master, then retire it once our workers run.

resque-pool's zero-downtime start: the new master leaves the pidfile alone
while it boots; when its first listener is ready it sends QUIT to the master
the pidfile names and takes the pidfile over.
"""

from __future__ import annotations

import logging
import os
import signal

from resqued import pidfile

log = logging.getLogger("resqued")


def take_over(old_master: int, path: str | None) -> None:
    """Our workers run: retire the master we started beside, take its pidfile."""
    log.info("hot swap: taking over from master %d", old_master)
    try:
        os.kill(old_master, signal.SIGQUIT)
    except ProcessLookupError:
        pass
    if path:
        pidfile.write(path, force=True)
