"""resque-scheduler's recurring-schedule keys: dynamic schedules, changes, last runs.

- ``persistent_schedules``: a hash of a schedule's name to its entry as JSON
  (``Resque.set_schedule(name, config.merge(persist: true))``);
- ``schedules_changed``: the set of names set or removed since the lock's holder looked;
- ``delayed:last_enqueued_at``: a hash of a schedule's name to the local time of its
  last run, as Ruby's ``Time#to_s`` writes it (``2024-01-01 13:00:00 +0100``).
"""

from __future__ import annotations

from typing import Any

from resqued.resque import payload, times
from resqued.resque.scripts import FIRE_RECURRING
from resqued.resque.store import Store, text


class Schedules:
    def __init__(self, store: Store) -> None:
        self.redis = store.redis
        self.keys = store.keys
        self._fire = self.redis.register_script(FIRE_RECURRING)

    def fire(self, lock_key: str, owner: str, name: str, queue: str, job: bytes, at: float) -> bool:
        """Queue one run of schedule ``name`` if ``owner`` holds the lock; False if not."""
        keys = [lock_key, self.keys.queue(queue), self.keys.queues, self.keys.last_enqueued_at]
        return int(self._fire(keys=keys, args=[owner, queue, job, name, times.local_to_s(at)])) == 1

    def persistent(self) -> dict[str, bytes]:
        found = self.redis.hgetall(self.keys.persistent_schedules)
        return {text(k): _bytes(v) for k, v in found.items()}

    def changed(self) -> list[str]:
        """Take the names changed since the last look (SPOP until empty, as Ruby does)."""
        names = []
        while (name := self.redis.spop(self.keys.schedules_changed)) is not None:
            names.append(text(name))  # type: ignore[arg-type]
        return names

    def forget_changes(self) -> None:
        self.redis.delete(self.keys.schedules_changed)

    def set_persistent(self, name: str, config: dict[str, Any]) -> None:
        """resque-scheduler's ``set_schedule`` with ``persist: true``."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.keys.persistent_schedules, name, payload.dumps(config))
        pipe.sadd(self.keys.schedules_changed, name)
        pipe.execute()

    def remove_persistent(self, name: str) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.hdel(self.keys.persistent_schedules, name)
        pipe.sadd(self.keys.schedules_changed, name)
        pipe.execute()

    def last_enqueued_at(self, name: str) -> str | None:
        value = self.redis.hget(self.keys.last_enqueued_at, name)
        return None if value is None else text(value)


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()
