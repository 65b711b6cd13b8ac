"""Redis clients: the one place they are made, for every URL form, and a start-up probe."""

from __future__ import annotations

import os
import socket
import ssl
import struct
from typing import Any

import redis

from resqued.errors import ResquedError
from resqued.process.redact import redact
from resqued.resque.sentinels import Sentinel
from resqued.resque.urls import SCHEMES, TLS_OPTIONS, Target, parameters_of, parse

__all__ = [
    "DEFAULT_URL",
    "SCHEMES",
    "RedisRefused",
    "RedisUnreachable",
    "connect",
    "default_url",
    "kernel_timeouts",
    "probe",
    "redact",
    "refusal",
    "socket_of",
    "validate",
]

DEFAULT_URL = "redis://127.0.0.1:6379/0"
# Our defaults; options in the URL win.  Each applies where the connection type takes it.
DEFAULTS: dict[str, Any] = {
    "socket_timeout": 5,  # redis-py's own default since 6.0; before, None: no read timeout
    "socket_connect_timeout": 5,
    "socket_keepalive": True,
    "health_check_interval": 30,
}
SENTINEL_DEFAULTS: dict[str, Any] = {"socket_connect_timeout": 5, "socket_timeout": 5}


class RedisRefused(ResquedError):
    """Redis answered but refused us: wrong password or user, no permission, no such db."""


class RedisUnreachable(ResquedError):
    """No answer from Redis (or from any Sentinel): worth retrying, unlike RedisRefused."""


def default_url() -> str:
    return os.environ.get("REDIS_URL") or DEFAULT_URL


def validate(url: str) -> str:
    """Return the URL, or raise ResquedError naming what is wrong with it."""
    parse(url)
    return url


def connect(url: str | None = None) -> redis.Redis:
    """A client for ``url`` (default ``$REDIS_URL``); connects lazily, on first use."""
    target = parse(url or default_url())
    if target.sentinel:
        return _sentinel_client(target)
    options = dict(target.options)
    cls = options.pop("connection_class", redis.Connection)
    defaults = {k: v for k, v in DEFAULTS.items() if k in parameters_of(cls)}
    pool = redis.ConnectionPool(connection_class=cls, **{**defaults, **options})
    return redis.Redis(connection_pool=pool)


def _sentinel_client(target: Target) -> redis.Redis:
    extra = target.sentinel_options
    sentinel_kwargs = dict(SENTINEL_DEFAULTS)
    if "sentinel_username" in extra:
        sentinel_kwargs["username"] = extra["sentinel_username"]
    if "sentinel_password" in extra:
        sentinel_kwargs["password"] = extra["sentinel_password"]
    if extra.get("sentinel_ssl"):
        sentinel_kwargs["ssl"] = True
        sentinel_kwargs.update({k: v for k, v in target.options.items() if k in TLS_OPTIONS})
    manager = Sentinel(  # type: ignore[no-untyped-call,unused-ignore]
        list(target.sentinels), sentinel_kwargs=sentinel_kwargs
    )
    client: redis.Redis = manager.master_for(  # type: ignore[no-untyped-call,unused-ignore]
        target.service, **{**DEFAULTS, **target.options}
    )
    return client


def socket_of(conn: Any) -> Any:
    """The socket of a redis-py ``Connection`` (None when not connected).

    redis-py has no public accessor for it: this is the one place that reads its
    private ``_sock`` attribute (present on every connection class, TCP, TLS,
    unix socket and Sentinel-managed alike, in every redis-py the README names).
    Off the per-job path: when a connection is made (``kernel_timeouts``) and when
    an idle worker waits (its descriptor, for ``select``).
    """
    return conn._sock


def kernel_timeouts(conn: Any) -> None:
    """Let the kernel time a connected plain socket's reads and writes, not Python.

    A socket with a Python timeout costs a ``poll`` before every ``send`` and
    ``recv``; a blocking one with ``SO_RCVTIMEO``/``SO_SNDTIMEO`` gives up after
    the same time without them (redis-py then raises ``ConnectionError``, where it
    would raise ``TimeoutError``: both are a Redis that did not answer).  TLS
    sockets keep Python's timeout: the kernel's would surface mid-record.
    """
    sock = socket_of(conn)
    if sock is None or isinstance(sock, ssl.SSLSocket):
        return
    timeout = sock.gettimeout()
    if timeout is None or timeout <= 0:
        return
    sec = int(timeout)
    tv = struct.pack("ll", sec, int((timeout - sec) * 1e6))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)
    sock.settimeout(None)


def probe(client: redis.Redis, url: str | None = None) -> None:
    """PING once: RedisRefused when Redis says no, RedisUnreachable when nothing answers."""
    where = f"Redis at {redact(url or default_url())}"
    try:
        client.ping()
    except redis.AuthenticationError as exc:
        raise RedisRefused(f"{where} refused the user name or password: {_reason(exc)}") from None
    except redis.ResponseError as exc:
        raise RedisRefused(f"{where} {refusal(client, exc)}") from None
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise RedisUnreachable(f"cannot reach {where}: {_reason(exc)}") from None


def refusal(client: redis.Redis, exc: redis.ResponseError) -> str:
    """What a refusal on connecting means: ``has no database 99 (...)``, or the reply."""
    reason = _reason(exc)
    if "DB index is out of range" in reason:  # SELECT of a database beyond `databases`
        db = client.connection_pool.connection_kwargs.get("db", 0)
        return f"has no database {db} (beyond the server's 'databases' setting: {reason})"
    return f"refused the connection: {reason}"


def _reason(exc: BaseException) -> str:
    return redact(" ".join(str(exc).split())) or type(exc).__name__
