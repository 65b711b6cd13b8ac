"""resque-scheduler's master lock: at most one mover per Redis, Ruby's or ours.

The key is ``Keys.scheduler_lock`` (``resque:resque:resque_scheduler_master_lock``
by default), its value ``<hostname>:<pid>`` with the host named as Ruby names it.
A mover is the master while ``acquire()`` or ``renew()`` says so (Ruby's
``master? = acquire! || locked?``): ``acquire`` sets the key if it is free, with
the lock's timeout; ``renew`` extends it if it is still ours.  A holder that stops
renewing (killed, stalled, cut off) loses it when the key expires, and another
mover takes it on its next turn.
"""

from __future__ import annotations

import os
import socket

from resqued.resque.scripts import LOCK_ACQUIRE, LOCK_RELEASE, LOCK_RENEW
from resqued.resque.store import Store, text

DEFAULT_TIMEOUT = 180  # resque-scheduler's LOCK_TIMEOUT default: 3 minutes


def holder_host() -> str:
    """The host part of the lock's value, as resque-scheduler finds it.

    Ruby: ``Addrinfo.getaddrinfo(Socket.gethostname, 'http').first.getnameinfo.first``,
    falling back to the plain host name.
    """
    name = socket.gethostname()
    try:
        address = socket.getaddrinfo(name, "http")[0][4]
        return socket.getnameinfo(address, 0)[0]
    except (OSError, IndexError, UnicodeError):
        return name


class SchedulerLock:
    def __init__(
        self, store: Store, timeout: int = DEFAULT_TIMEOUT, prefix: str = "", pid: int = 0
    ) -> None:
        self.store = store
        self.key = store.keys.scheduler_lock(prefix)
        self.timeout = int(timeout)
        self.host = holder_host()
        self.value = f"{self.host}:{pid or os.getpid()}"
        self._acquire = store.redis.register_script(LOCK_ACQUIRE)
        self._renew = store.redis.register_script(LOCK_RENEW)
        self._release = store.redis.register_script(LOCK_RELEASE)

    def master(self) -> bool:
        """Ruby's ``master?``: take the lock, or keep it."""
        return self.acquire() or self.renew()

    def acquire(self) -> bool:
        return int(self._acquire(keys=[self.key], args=[self.value, self.timeout])) == 1

    def renew(self) -> bool:
        return int(self._renew(keys=[self.key], args=[self.value, self.timeout])) == 1

    def release(self, value: str | None = None) -> bool:
        """Delete the lock if it holds ``value`` (default: ours)."""
        return int(self._release(keys=[self.key], args=[value or self.value])) == 1

    def holder(self) -> str | None:
        value = self.store.redis.get(self.key)
        return None if value is None else text(value)

    def release_for(self, pid: int) -> bool:
        """Free the lock a dead mover of this host left (it was our child: reaped, gone)."""
        return self.release(f"{self.host}:{pid}")
