"""Does Redis answer? One call for start-up checks: ping, and every failure as one line.

Used by ``--test`` (through the config check process) and by each listener
before it forks workers, so a start that cannot work says why instead of
reporting success.  A wrong password or an unknown user is a configuration
error, not an outage: it is reported at once and never retried as one.
"""

from __future__ import annotations

import redis

from resqued.errors import ResquedError
from resqued.resque.connection import RedisUnreachable, refusal
from resqued.resque.sentinels import UnknownService
from resqued.resque.server import check_server
from resqued.resque.store import Store


def check(store: Store) -> str:
    """``redis <version> at <url>``; ResquedError with the cause when it refuses us, or is
    older than Redis 6.2 (see resqued/resque/server.py); RedisUnreachable (a ResquedError)
    when nothing answers, which ``--test`` without ``--strict`` reports and passes.
    """
    where = store.safe_url
    try:
        store.redis.ping()  # connecting SELECTs the database: one the server lacks fails here
        described = check_server(store.redis)
    except ResquedError as exc:
        raise ResquedError(f"redis at {where}: {exc}") from None
    except redis.AuthenticationError as exc:
        raise ResquedError(f"redis at {where} refused the credentials: {exc}") from None
    except redis.ResponseError as exc:
        if "NOAUTH" in str(exc) or "WRONGPASS" in str(exc):
            raise ResquedError(f"redis at {where} refused the credentials: {exc}") from None
        raise ResquedError(f"redis at {where} {refusal(store.redis, exc)}") from None
    except UnknownService as exc:  # a Sentinel answered: the URL names no service it has
        raise ResquedError(f"redis at {where}: {exc}") from None
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        raise RedisUnreachable(f"redis at {where} does not answer: {exc}") from None
    return f"{described} at {where}"
