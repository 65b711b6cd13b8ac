"""A Lua script called on a connection of its own: the hot path of a worker, one round trip a job.

redis-py's ``Script`` goes through the client for every call: a pool checkout
(two ``getpid``, a non-blocking ``recv`` with two ``ioctl`` to check the
connection is clean), a health check, and the packing of every argument.  A
worker calls RESERVE once a job, always on the same thread, so ``ScriptCall``
keeps one connection (``Store.dedicated_connection``: every URL form, TLS,
unix sockets and Sentinel alike) and sends ``EVALSHA`` packed from pieces the
caller keeps (``bulk``): its constant arguments are packed once.

Errors are redis-py's: a connection that fails is disconnected by redis-py and
reconnects on the next call, and the error (``ConnectionError`` or
``TimeoutError``) reaches the caller, whose retry decides (``worker/retry.py``).
``NOSCRIPT`` (a restarted or flushed Redis) loads the script and sends again.
A forked child never uses its parent's socket: it opens its own.

Only redis-py's public API is used here (``send_packed_command``,
``read_response``, ``connect``, ``register_connect_callback``): redis-py
disconnects a connection whose call failed, so after any exception the next
call goes through ``connect()`` first, and a call that follows a success sends
at once.

The worker's idle wait borrows the same connection between two calls
(``connection``, ``client_id``): a worker holds one connection for its reserve,
its jobs' bookkeeping and its waits.
"""

from __future__ import annotations

import hashlib
import os
import weakref
from collections.abc import Iterable
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError

from resqued.resque import connection


def bulk(value: bytes) -> bytes:
    """One argument in the Redis protocol (a RESP bulk string)."""
    return b"$%d\r\n%s\r\n" % (len(value), value)


class ScriptCall:
    """``EVALSHA`` of one script with no keys, on a connection kept for it."""

    def __init__(self, store: Any, script: str) -> None:
        self.store = store  # a Store: its dedicated_connection() makes ours
        self.script = script.encode()
        sha = hashlib.sha1(self.script).hexdigest().encode()
        self._head = bulk(b"EVALSHA") + bulk(sha) + bulk(b"0")
        self._conn: Any = None
        self._suspect = False  # the last call raised: redis-py may have disconnected
        self._client_id: int | None = None  # CLIENT ID of the connection, asked once per connect
        _LIVE.add(self)

    def __call__(self, nargs: int, packed: Iterable[bytes]) -> Any:
        """Run the script with ``nargs`` arguments, given as pieces of ``bulk`` strings."""
        command = [b"*%d\r\n%s%s" % (nargs + 3, self._head, b"".join(packed))]
        try:
            return self._send(command)
        except RedisConnectionError:
            # A connection Redis closed while we were idle (its ``timeout``), or a
            # failover: one more try on a new connection, as redis-py's client does.
            # Safe even if the first call ran: the script's guards make a repeat harmless.
            return self._send(command)

    def connection(self) -> Any:
        """The connection, connected (made on first use, reconnected after a failure)."""
        conn = self._conn
        if conn is None:
            conn = self.store.dedicated_connection()
            conn.register_connect_callback(self._connected)
            self._connected(conn)
            self._conn = conn
        elif self._suspect:
            # Reconnect through connect() (a no-op when still connected): a
            # Sentinel-managed connection asks the Sentinels for the primary there.
            conn.connect()
            self._suspect = False
        return conn

    def client_id(self) -> int:
        """The Redis client id of the connection (for ``CLIENT UNBLOCK`` from elsewhere)."""
        conn = self.connection()
        if self._client_id is None:
            conn.send_command("CLIENT", "ID", check_health=False)
            self._client_id = int(conn.read_response())
        return self._client_id

    def _send(self, command: list[bytes]) -> Any:
        conn = self.connection()
        try:
            conn.send_packed_command(command, check_health=False)
            try:
                return conn.read_response()
            except NoScriptError:
                conn.send_command("SCRIPT", "LOAD", self.script, check_health=False)
                conn.read_response()
                conn.send_packed_command(command, check_health=False)
                return conn.read_response()
        except BaseException:
            self._suspect = True
            raise

    def _connected(self, conn: Any) -> None:
        self._client_id = None  # a new connection, a new id
        connection.kernel_timeouts(conn)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        self._client_id = None
        if conn is not None:
            conn.disconnect()

    def reset(self) -> None:
        """Drop the connection's socket (a reply is left unread): the next use reconnects."""
        if self._conn is not None:
            self._conn.disconnect()
            self._client_id = None
            self._suspect = True

    def _forget(self) -> None:
        """In a forked child: leave the parent's connection alone, open our own."""
        if self._conn is not None:
            _INHERITED.append(self._conn)  # kept, so that no close (or shutdown) touches it
            self._conn = None
            self._suspect = False
            self._client_id = None


_LIVE: weakref.WeakSet[ScriptCall] = weakref.WeakSet()
_INHERITED: list[Any] = []


def _after_fork_in_child() -> None:
    for call in list(_LIVE):
        call._forget()


os.register_at_fork(after_in_child=_after_fork_in_child)
