"""Which server we talk to, and whether it is new enough (Redis 6.2: BLMOVE and GETDEL).

Valkey reports ``server_name:valkey`` and ``valkey_version`` in ``INFO server``, and
``redis_version`` as the Redis version it is compatible with (7.2.4 for every Valkey
so far), so every Valkey passes the check.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from resqued.errors import ResquedError

MINIMUM_REDIS = (6, 2, 0)
NEEDS = "Redis 6.2 or newer, or Valkey (for BLMOVE and GETDEL)"


@dataclass(frozen=True)
class ServerVersion:
    """What ``INFO server`` says: the server's name and version, and its Redis level."""

    name: str  # "redis", "valkey", or another fork's server_name
    version: str  # the server's own version, e.g. "8.1.1" for Valkey 8.1.1
    redis_version: str  # the Redis version it implements (Valkey: 7.2.4)

    def __str__(self) -> str:
        return f"{self.name} {self.version}"

    @property
    def supported(self) -> bool:
        return parse(self.redis_version) >= MINIMUM_REDIS


def parse(version: str) -> tuple[int, ...]:
    """``"6.2.14"`` -> ``(6, 2, 14)``; a part that is not a number ends the tuple."""
    numbers: list[int] = []
    for part in version.split("."):
        digits = ""
        for ch in part:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        numbers.append(int(digits))
        if len(digits) < len(part):
            break
    return tuple(numbers)


def from_info(info: dict[str, object]) -> ServerVersion:
    """Read a parsed ``INFO server`` reply (as redis-py returns it)."""
    redis_version = str(info.get("redis_version", "")).strip()
    if not redis_version:
        raise ResquedError("the server's INFO reply has no redis_version: not a Redis server?")
    name = str(info.get("server_name") or "redis").strip().lower()
    own = str(info.get(f"{name}_version") or redis_version).strip()
    return ServerVersion(name, own, redis_version)


def server_version(client: redis.Redis) -> ServerVersion:
    """Ask the server (``INFO server``); connection errors propagate as redis-py raises them."""
    return from_info(client.info("server"))


def require_supported(found: ServerVersion) -> str:
    """``str(found)``, or ResquedError naming the version found and the one needed."""
    if not found.supported:
        shown = str(found) if found.name == "redis" else f"{found} (Redis {found.redis_version})"
        raise ResquedError(f"the server is {shown}; resqued needs {NEEDS}")
    return str(found)


def check_server(client: redis.Redis) -> str:
    """A short description such as ``"valkey 8.1.1"``, or ResquedError if the server is too old.

    A server that refuses ``INFO`` (an ACL without it, a managed service that renames
    it) is not refused here: the description then says the version is unknown, and
    the first ``BLMOVE`` or ``GETDEL`` reports an old server.
    """
    try:
        found = server_version(client)
    except redis.ResponseError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return f"server version unknown (INFO refused: {reason})"
    return require_supported(found)
