"""--hot-swap: start beside a running master, then retire it once our workers run.

resque-pool's zero-downtime start: the new master leaves the pidfile alone
while it boots; when its first listener is ready it sends QUIT to the master
the pidfile names and takes the pidfile over.
"""

from __future__ import annotations

import logging
import signal

from resqued import pidfile

log = logging.getLogger("resqued")


def take_over(old_master: int, path: str | None) -> None:
    """Our workers run: retire the master we started beside, take its pidfile.

    The old master is signalled only if it is still verifiably the master the
    pidfile named (see resqued/pidfile.py).
    """
    log.info("hot swap: taking over from master %d", old_master)
    pidfile.signal_master(old_master, signal.SIGQUIT, path)
    if path:
        pidfile.write(path, force=True)
