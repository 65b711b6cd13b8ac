"""The data a large deployment keeps in its Redis: many queues, a long failed list, other keys.

- ``seed_queues``: ``n`` queues nobody works, one job each (``status`` and
  ``queues`` read every queue);
- ``fill_failed``: a ``failed`` list of ``n`` records in Resque's format
  (``resqued.resque.failure.record``), rebuilt from scratch, with classes a
  filter can pick out: ``Rare`` every 100th record (1%), and, 100 of each,
  spread evenly from the oldest to the newest, ``RetryMe`` and ``RemoveMe``
  (the targets of retry and remove by filter); the rest ``Job0``..``Job6``;
- ``populate``: ``n`` keys that are not Resque's (``DEBUG POPULATE``, as an
  application sharing the Redis would keep), ``unpopulate`` removes them.
"""

from __future__ import annotations

import json
from typing import Any

import redis

from resqued.resque import failure

FAILED = "resque:failed"
TARGETS = 100  # records of RetryMe and of RemoveMe
UNRELATED = "unrelated"
BATCH = 10_000
BACKTRACE = [f"/srv/app/jobs/step_{i}.py:{10 * i + 3}:in `perform'" for i in range(5)]


def seed_queues(client: redis.Redis, n: int) -> None:
    pipe = client.pipeline(transaction=False)
    for i in range(n):
        name = f"idle-{i:04d}"
        pipe.sadd("resque:queues", name)
        pipe.rpush(f"resque:queue:{name}", json.dumps({"class": "Noop", "args": [i]}))
    pipe.execute()


def _template() -> str:
    """One record with %-placeholders for what varies (class, argument, queue, worker)."""
    raw = failure.record(
        {"class": "@CLASS@", "args": [987654321]},
        "RuntimeError",
        "boom: the upstream service answered 503",
        BACKTRACE,
        "@WORKER@",
        "@QUEUE@",
        epoch=1_765_000_000,
    ).decode()
    raw = raw.replace("%", "%%").replace("987654321", "%(i)d")
    for marker, field in (("@CLASS@", "cls"), ("@WORKER@", "w"), ("@QUEUE@", "q")):
        raw = raw.replace(marker, f"%({field})s")
    return raw


def class_of(i: int, n: int) -> str:
    step = max(3, n // TARGETS)
    if i % step == 1 and i // step < TARGETS:
        return "RetryMe"
    if i % step == 2 and i // step < TARGETS:
        return "RemoveMe"
    if i % 100 == 0:
        return "Rare"
    return f"Job{i % 7}"


def fill_failed(client: redis.Redis, n: int) -> None:
    """``failed`` holds exactly ``n`` records (oldest first, as Resque appends)."""
    client.unlink(FAILED)
    template = _template()
    for lo in range(0, n, BATCH):
        records = [
            template
            % {
                "cls": class_of(i, n),
                "i": i,
                "q": f"idle-{i % 50:04d}",
                "w": f"bench-host-{i % 32:02d}:{1000 + i % 5000}:idle-{i % 50:04d}",
            }
            for i in range(lo, min(n, lo + BATCH))
        ]
        client.rpush(FAILED, *records)


def populate(client: redis.Redis, n: int) -> str:
    """``n`` unrelated keys; how they were made (DEBUG POPULATE, else MSET)."""
    try:
        client.execute_command("DEBUG", "POPULATE", n, UNRELATED, 16)  # type: ignore[no-untyped-call]
        return "DEBUG POPULATE"
    except redis.ResponseError:  # DEBUG refused (Redis < 7 or not enabled): the slow way
        pipe = client.pipeline(transaction=False)
        for lo in range(0, n, BATCH):
            pipe.mset({f"{UNRELATED}:{i}": f"value:{i}" for i in range(lo, min(n, lo + BATCH))})
        pipe.execute()
        return "MSET"


def unpopulate(client: redis.Redis) -> None:
    batch: list[Any] = []
    for key in client.scan_iter(match=f"{UNRELATED}:*", count=BATCH):
        batch.append(key)
        if len(batch) >= BATCH:
            client.unlink(*batch)
            batch.clear()
    if batch:
        client.unlink(*batch)
