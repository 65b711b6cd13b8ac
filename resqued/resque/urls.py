"""Redis URLs: every form redis-py connects to, plus Sentinel, parsed into one ``Target``.

    redis://[[user]:password@]host[:port][/db][?option=value...]
    rediss://...                      TLS (ssl_cert_reqs, ssl_ca_certs, ssl_certfile, ...)
    unix://[[user]:password@]/path/to/redis.sock[?db=N&password=...]
    redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/service[/db][?...]
    rediss+sentinel://...             TLS to the primary (sentinel_ssl=true: to Sentinels too)

Reserved characters in a user name or password are percent-encoded
(``/`` %2F, ``@`` %40, ``:`` %3A, ``%`` %25).  Every error is one line that
shows the URL through ``redact`` only, and never quotes a piece of it; a value
that does not start with ``scheme://`` (``redis:/:pw@host``, ``:pw@host``, a
bare password) is not shown at all, since nothing tells its password apart.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

from redis import connection as rc
from redis import sentinel as rs
from redis.connection import URL_QUERY_ARGUMENT_PARSERS, parse_url

from resqued.errors import ResquedError
from resqued.process.redact import redact_url, remember

SCHEMES = ("redis", "rediss", "unix", "redis+sentinel", "rediss+sentinel")
SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")  # what redact_url can tell a password from
SENTINEL_PORT = 26379
# Options a URL may set (redis-py's names), by where they apply.
COMMON_OPTIONS = (
    "db",
    "username",
    "password",
    "client_name",
    "protocol",
    "socket_timeout",
    "socket_connect_timeout",
    "socket_keepalive",
    "retry_on_timeout",
    "health_check_interval",
    "max_connections",
)
TLS_OPTIONS = (
    "ssl_cert_reqs",
    "ssl_ca_certs",
    "ssl_ca_path",
    "ssl_ca_data",
    "ssl_certfile",
    "ssl_keyfile",
    "ssl_password",
    "ssl_check_hostname",
    "ssl_min_version",
    "ssl_ciphers",
    "ssl_include_verify_flags",
    "ssl_exclude_verify_flags",
)
SENTINEL_OPTIONS = ("sentinel_username", "sentinel_password", "sentinel_ssl")
CERT_REQS = ("none", "optional", "required")
SECRET_OPTIONS = ("password", "sentinel_password", "ssl_password")


@dataclass(frozen=True)
class Target:
    """Where and how to connect: keyword arguments for redis-py, and the Sentinel part."""

    url: str
    scheme: str
    options: dict[str, Any]  # for the connection pool (connection_class included)
    sentinels: tuple[tuple[str, int], ...] = ()
    service: str = ""
    sentinel_options: dict[str, Any] = field(default_factory=dict)

    @property
    def sentinel(self) -> bool:
        return bool(self.sentinels)


def _bad(url: str, why: str) -> ResquedError:
    if not SCHEME.match(url):  # no scheme://: any part of it may be the password
        return ResquedError(f"invalid Redis URL (not shown: it may hold a password): {why}")
    return ResquedError(f"invalid Redis URL {redact_url(url)!r}: {why}")


def _user_info(url: str) -> str:
    """Everything between ``://`` and the last ``@`` ('' if none), as redact sees it."""
    rest = url.partition("://")[2]
    at = rest.rfind("@")
    return rest[:at] if at >= 0 else ""


def parse(url: str) -> Target:
    """A Target for ``url``, or ResquedError naming what is wrong (never echoing a secret)."""
    info = _user_info(url)
    user, colon, password = info.partition(":")
    secret = password if colon else user  # redact shows a lone user-info as *** too
    remember(secret)
    remember(unquote(secret))
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme not in SCHEMES:
        raise _bad(url, "scheme must be one of " + ", ".join(s + "://" for s in SCHEMES))
    if "/" in info or "?" in info or "#" in info:
        raise _bad(url, "the user name or password holds '/', '?' or '#': percent-encode it")
    query = url.partition("?")[2]
    for name in SECRET_OPTIONS:
        for value in parse_qs(query).get(name, []):
            remember(value)
    if scheme.endswith("+sentinel"):
        return _parse_sentinel(url, scheme)
    return _parse_direct(url, scheme)


def _parse_direct(url: str, scheme: str) -> Target:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _bad(url, "the port is not a number from 1 to 65535") from None
    if scheme == "unix":
        if not parts.path:
            raise _bad(url, "no socket path")
    else:
        if not parts.hostname:
            raise _bad(url, "no host")
        db = parts.path.strip("/")
        if db and not db.isdigit():
            raise _bad(url, "the database (the path after the host) is not a number")
    if port == 0:
        raise _bad(url, "the port is not a number from 1 to 65535")
    try:
        options: dict[str, Any] = parse_url(url)  # type: ignore[no-untyped-call]
    except ValueError as exc:  # "Invalid value for 'db' in connection URL." (4.x: `db`)
        why = str(exc).rstrip(".").replace(" in connection URL", "").replace("`", "'")
        raise _bad(url, why[:1].lower() + why[1:]) from None
    return Target(url, scheme, _checked(url, scheme, options))


def _parse_sentinel(url: str, scheme: str) -> Target:
    rest = url.partition("://")[2].partition("#")[0]
    rest, _, query = rest.partition("?")
    authority, _, path = rest.partition("/")
    info, _, hosts = authority.rpartition("@")
    sentinels = []
    for item in hosts.split(","):
        try:
            parts = urlsplit(f"//{item}")
            host, port = parts.hostname, parts.port or SENTINEL_PORT
        except ValueError:
            raise _bad(url, "a Sentinel port is not a number from 1 to 65535") from None
        if not host:
            raise _bad(url, "a Sentinel address has no host")
        sentinels.append((host, port))
    service, _, db = path.strip("/").partition("/")
    if not service:
        raise _bad(url, "no service name (redis+sentinel://host:26379/mymaster/0)")
    if db and not db.isdigit():
        raise _bad(url, "the database (after the service name) is not a number")
    options: dict[str, Any] = {}
    user, colon, password = info.partition(":")
    if user:
        options["username"] = unquote(user)
    if password:
        options["password"] = unquote(password)
    if db:
        options["db"] = int(db)
    options.update(_query(url, query))
    sentinel_options = {k: options.pop(k) for k in SENTINEL_OPTIONS if k in options}
    options = _checked(url, scheme, options)
    if scheme.startswith("rediss"):
        options["ssl"] = True
    return Target(url, scheme, options, tuple(sentinels), unquote(service), sentinel_options)


def _query(url: str, query: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for name, values in parse_qs(query).items():
        convert = cast("Callable[[str], Any] | None", URL_QUERY_ARGUMENT_PARSERS.get(name))
        try:
            options[name] = convert(values[0]) if convert else values[0]
        except (TypeError, ValueError):
            raise _bad(url, f"invalid value for option {name!r}") from None
    if "sentinel_ssl" in options:
        options["sentinel_ssl"] = options["sentinel_ssl"].lower() in ("1", "true", "yes", "on")
    return options


def _checked(url: str, scheme: str, options: dict[str, Any]) -> dict[str, Any]:
    """The options, if every one is known and fits the scheme; else a one-line error."""
    tls, unix = scheme.startswith("rediss"), scheme == "unix"
    if scheme.endswith("+sentinel"):
        cls: type = rs.SentinelManagedSSLConnection if tls else rs.SentinelManagedConnection
    else:
        cls = options.get("connection_class", rc.Connection)
    allowed = set(COMMON_OPTIONS) | (set(TLS_OPTIONS) if tls else set())
    accepted = parameters_of(cls) | {"max_connections", "connection_class"}
    for name in options:
        if name in (("connection_class", "path") if unix else ("connection_class", "host", "port")):
            continue  # from the URL's address, not from an option
        if name in TLS_OPTIONS and not tls:
            raise _bad(url, f"option {name!r} needs a TLS URL (rediss://)")
        if name not in allowed or name not in accepted:
            raise _bad(url, f"unknown option {name!r}")
    reqs = options.get("ssl_cert_reqs")
    if reqs is not None and str(reqs).lower() not in CERT_REQS:
        raise _bad(url, "ssl_cert_reqs must be none, optional or required")
    return options


def parameters_of(cls: type) -> set[str]:
    """Keyword parameters the constructor of ``cls`` takes: its own, and its bases' as far
    as each passes ``**kwargs`` on (redis-py 4.5.0's unix connection takes no TCP option)."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters.values()
        for p in params:
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self":
                names.add(p.name)
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    return names
