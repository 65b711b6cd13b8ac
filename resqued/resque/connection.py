"""Redis URLs: validate, connect, and print without the password."""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

import redis

from resqued.errors import ResquedError

DEFAULT_URL = "redis://127.0.0.1:6379/0"
SCHEMES = ("redis", "rediss", "unix")


def default_url() -> str:
    return os.environ.get("REDIS_URL") or DEFAULT_URL


def redact(url: str) -> str:
    """The URL with any password replaced by ``***`` (safe for logs and proctitles)."""
    url = re.sub(r"(://[^:@/]*:)[^@/]*@", r"\1***@", url)
    return re.sub(r"([?&]password=)[^&]*", r"\1***", url)


def validate(url: str) -> str:
    """Return the URL, or raise ResquedError naming what is wrong with it."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError as exc:
        raise ResquedError(f"invalid Redis URL {redact(url)!r}: {exc}") from None
    if parts.scheme not in SCHEMES:
        raise ResquedError(
            f"invalid Redis URL {redact(url)!r}: scheme must be one of "
            + ", ".join(s + "://" for s in SCHEMES)
        )
    if parts.scheme == "unix":
        if not parts.path:
            raise ResquedError(f"invalid Redis URL {redact(url)!r}: no socket path")
    elif not parts.hostname:
        raise ResquedError(f"invalid Redis URL {redact(url)!r}: no host")
    db = parts.path.lstrip("/")
    if parts.scheme != "unix" and db and not db.isdigit():
        raise ResquedError(f"invalid Redis URL {redact(url)!r}: database {db!r} is not a number")
    return url


def connect(url: str | None = None) -> redis.Redis:
    """A client for ``url`` (default ``$REDIS_URL``); connects lazily."""
    url = validate(url or default_url())
    try:
        return redis.Redis.from_url(
            url,
            socket_connect_timeout=5,
            socket_keepalive=True,
            health_check_interval=30,
        )
    except ValueError as exc:
        raise ResquedError(f"invalid Redis URL {redact(url)!r}: {exc}") from None
