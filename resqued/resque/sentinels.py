"""Sentinel discovery whose failure is one short line naming each Sentinel and its answer.

redis-py's ``MasterNotFoundError`` carries the repr of every Sentinel client it
asked (more than 1 KB each), which then reaches every message built from it.
This ``Sentinel`` asks the same way (``SENTINEL MASTERS``, the first healthy
answer wins and its Sentinel moves to the front) and, when none gives a
primary, says why in one line: ``no Sentinel gave a primary for service
'mymaster' (10.0.0.1:26379: Error 111 connecting to 10.0.0.1:26379. Connection
refused.; 10.0.0.2:26379: its primary is down)``.
"""

from __future__ import annotations

from typing import Any, cast

import redis
from redis.sentinel import MasterNotFoundError
from redis.sentinel import Sentinel as RedisSentinel

from resqued.process.redact import redact

MAX_CAUSE = 160  # characters kept of one Sentinel's error


class UnknownService(MasterNotFoundError):
    """A server answered and gave no primary: it knows no such service, or it is no
    Sentinel (a wrong URL, not an outage)."""


class Sentinel(RedisSentinel):
    """redis-py's Sentinel manager; its "no primary" error is one line of causes."""

    def discover_master(self, service_name: str) -> tuple[str, int]:
        causes: list[str] = []
        unknown = False
        for number, sentinel in enumerate(self.sentinels):
            try:
                masters = cast("dict[str, Any]", sentinel.sentinel_masters())
            except (redis.ConnectionError, redis.ResponseError, redis.TimeoutError) as exc:
                unknown = unknown or isinstance(exc, redis.ResponseError)
                causes.append(f"{address(sentinel)}: {reason(exc)}")
                continue
            state = masters.get(service_name)
            if state and self.check_master_state(state, service_name):  # type: ignore[no-untyped-call,unused-ignore]
                self.sentinels[0], self.sentinels[number] = sentinel, self.sentinels[0]
                return state["ip"], state["port"]
            why = (
                "its primary is down or not seen by enough Sentinels"
                if state
                else "no such service"
            )
            unknown = unknown or not state
            causes.append(f"{address(sentinel)}: {why}")
        error = UnknownService if unknown else MasterNotFoundError
        raise error(
            f"no Sentinel gave a primary for service {service_name!r} ({'; '.join(causes)})"
        )


def address(client: Any) -> str:
    """``host:port`` of a Sentinel client."""
    kwargs = client.connection_pool.connection_kwargs
    return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"


def reason(exc: BaseException) -> str:
    text = redact(" ".join(str(exc).split())) or type(exc).__name__
    return text if len(text) <= MAX_CAUSE else text[:MAX_CAUSE] + "..."
