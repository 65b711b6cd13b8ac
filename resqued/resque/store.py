"""A Redis client paired with the key namespace: the data layer every process uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import redis

from resqued.resque import connection
from resqued.resque.keys import Keys
from resqued.resque.scripts import HANDBACK


def text(value: bytes | str) -> str:
    """A Redis reply as text (clients here return bytes; bad UTF-8 is replaced)."""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


@dataclass
class Store:
    redis: redis.Redis
    keys: Keys = field(default_factory=Keys)
    url: str = connection.DEFAULT_URL

    def __post_init__(self) -> None:
        self.handback_script = self.redis.register_script(HANDBACK)

    @classmethod
    def connect(cls, url: str | None = None, namespace: str = "resque") -> Store:
        url = connection.validate(url or connection.default_url())
        return cls(connection.connect(url), Keys(namespace), url)

    def record_handover(self, worker_id: str, queue: str) -> None:
        """Record that ``worker_id`` may get a hand-over list for ``queue`` (before its wait)."""
        keys = self.keys
        pipe = self.redis.pipeline(transaction=False)
        pipe.sadd(keys.handover_workers, worker_id)
        pipe.sadd(keys.handovers(worker_id), queue)
        pipe.execute()

    def hand_back(self, worker_id: str, forget: bool, extra: list[str] | None = None) -> int:
        """Every hand-over list of ``worker_id`` back at its queue's head (one script call).

        ``forget``: the worker is gone, drop its record too.  ``extra``: queues that
        may have a list the record does not name.
        """
        args = [self.keys.prefix, worker_id, "1" if forget else "0", *(extra or [])]
        return int(self.handback_script(args=args))

    @property
    def safe_url(self) -> str:
        return connection.redact(self.url)

    def probe(self) -> None:
        """PING once: RedisRefused (wrong password, ...) or RedisUnreachable, one line each."""
        connection.probe(self.redis, self.url)

    def dedicated_connection(self) -> Any:
        """A connection of its own, outside the pool (for blocking waits).

        Same address, TLS settings, credentials and database as the pool's; works
        for every URL form, Sentinel included.  The caller disconnects it.
        """
        pool = self.redis.connection_pool
        conn = pool.connection_class(**pool.connection_kwargs)
        # Connect here, as the pool does: a Sentinel-managed connection finds the
        # primary in connect(); left to send_command it would dial localhost:6379.
        conn.connect()
        return conn

    def server_time(self) -> float:
        sec, usec = self.redis.time()
        return sec + usec / 1e6

    def push(self, queue: str, payload: bytes) -> None:
        """RPUSH the job and SADD its queue in one pipeline, as Ruby does."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.sadd(self.keys.queues, queue)
        pipe.rpush(self.keys.queue(queue), payload)
        pipe.execute()

    def queue_names(self) -> list[str]:
        return sorted(text(q) for q in self.redis.smembers(self.keys.queues))

    def paused(self) -> bool:
        value = self.redis.get(self.keys.pause)
        return value is not None and text(value).strip().lower() == "true"
