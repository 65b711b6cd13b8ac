"""Which Redis errors are an outage to wait out: a server that does not answer, or refuses writes.

A server that answers but refuses writes is out of service for a worker as
much as one that is gone: ``OOM`` (``maxmemory`` with ``noeviction``),
``READONLY`` (a replica, after a failover that did not move our address),
``MISCONF`` (it cannot persist and ``stop-writes-on-bgsave-error`` is on),
``NOREPLICAS`` (``min-replicas-to-write``), ``MASTERDOWN``, ``BUSY`` (a
script that runs too long) and ``UNBLOCKED`` (a blocked ``BLMOVE`` ended
because the server became a replica).  None of these is a bug of ours: they pass when
the operator frees memory, the failover completes, the disk is fixed.

redis-py names some (``OutOfMemoryError``, ``ReadOnlyError``); the others,
and every error a Lua script raised on Redis 6.2 (``Error running script ...:
-OOM command not allowed ...``), are a ``ResponseError`` whose text holds the
code.  Any other ``ResponseError`` is a real error and is raised as before.
"""

from __future__ import annotations

import re

import redis
import redis.exceptions

# The types redis-py gives these codes, with the code its text lacks (redis-py before 4.6
# has no OutOfMemoryError: an OOM is a ResponseError whose text starts with it).
NAMED: dict[type[BaseException], str] = {
    kind: code
    for name, code in (("OutOfMemoryError", "OOM"), ("ReadOnlyError", "READONLY"))
    if (kind := getattr(redis.exceptions, name, None)) is not None
}

UNREACHABLE = (redis.ConnectionError, redis.TimeoutError)
CODES = "OOM command not allowed|READONLY|MISCONF|NOREPLICAS|MASTERDOWN|BUSY|UNBLOCKED"
REFUSED = re.compile(rf"(?:^|[\s:-])(?:{CODES})\b")


def refused_write(exc: BaseException) -> bool:
    """Redis answered, and refused: a write it cannot take now (see the module's list)."""
    if isinstance(exc, tuple(NAMED)):
        return True
    return isinstance(exc, redis.ResponseError) and REFUSED.search(str(exc)) is not None


def is_outage(exc: BaseException) -> bool:
    """Redis cannot serve us now: unreachable, or it refuses writes.  Wait and retry."""
    return isinstance(exc, UNREACHABLE) or refused_write(exc)


def what(exc: BaseException) -> str:
    """How an outage reads in a log line: ``unavailable`` or ``refuses writes``."""
    return "refuses writes" if refused_write(exc) else "unavailable"


def reason(exc: BaseException) -> str:
    """The error on one line from its code on (``OOM ...``, ``READONLY ...``), at most 200
    characters (a script's error names the script)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    found = REFUSED.search(text)
    if found and found.start() > 0:  # Redis 6.2: "Error running script ...: -READONLY ..."
        text = text[found.start() :].lstrip(" :-")
    code = NAMED.get(type(exc))
    if code and not text.startswith(code):
        text = f"{code} {text}"  # redis-py keeps the code in the type, not the text
    return text if len(text) <= 200 else text[:197] + "..."
