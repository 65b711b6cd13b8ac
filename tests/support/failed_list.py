"""The failed list as Ruby changes it (RPUSH, requeue's LSET, remove's LSET + LREM), long
lists of realistic records, Redis's command counts, and a check that the index is in step."""

from __future__ import annotations

import json
from collections import Counter

import redis

from support.fleet import ruby_failure

FAILED = "resque:failed"
IDX = "resque:resqued:failed:idx"


def record(i: int, cls: str, queue: str, exception: str = "RuntimeError") -> bytes:
    """Record number ``i``: unique by its args and time."""
    return ruby_failure(
        cls=cls,
        args=[i, f"user-{i}"],
        queue=queue,
        exception=exception,
        error=f"boom {i}",
        failed_at=f"2024/01/{1 + i // 86400 % 28:02d} {i // 3600 % 24:02d}:{i // 60 % 60:02d}:"
        f"{i % 60:02d} UTC",
        worker=f"rubyhost:{100 + i % 7}:{queue}",
    )


def push_many(r: redis.Redis, records: list[bytes]) -> None:
    pipe = r.pipeline(transaction=False)
    for i in range(0, len(records), 1000):
        pipe.rpush(FAILED, *records[i : i + 1000])
    pipe.execute()


def ruby_remove(r: redis.Redis, index: int) -> None:
    """``Resque::Failure::Redis.remove(id)``: LSET a sentinel, LREM it (two commands)."""
    r.lset(FAILED, index, b"__ruby_remove_sentinel__")
    r.lrem(FAILED, 1, b"__ruby_remove_sentinel__")


def ruby_retry(r: redis.Redis, index: int, at: str = "2024/02/01 10:00:00") -> None:
    """``Resque::Failure::Redis.requeue(id)``: the record gets ``retried_at`` (LSET)."""
    doc = json.loads(r.lindex(FAILED, index))
    doc["retried_at"] = at
    r.lset(FAILED, index, json.dumps(doc, separators=(",", ":"), ensure_ascii=False))


def calls(r: redis.Redis) -> Counter[str]:
    """Calls per command since the last ``CONFIG RESETSTAT``, scripts' commands included."""
    stats = r.info("commandstats")
    return Counter({k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()})


def assert_index_in_step(r: redis.Redis, failed) -> None:
    """Every block of the index holds, where it says, the records it counts; no key of the
    index names a block that is gone."""
    from resqued.resque.failed_index import value_id, values_of
    from resqued.resque.failed_record import FailedJob, identity

    layout = failed.index.sync()
    assert layout.len == r.llen(FAILED)
    for b in layout.blocks:
        raws = r.lrange(FAILED, b.start, b.end)
        assert len(raws) == b.n and identity(raws[0]) == b.head and identity(raws[-1]) == b.tail
        want = Counter(
            value_id(k, v) for x in raws for k, v in values_of(FailedJob.parse(0, x).fields)
        )
        got = {k.decode(): int(v) for k, v in r.hgetall(f"{IDX}:b:{b.id}").items()}
        assert got == dict(want), b
        for vid, n in got.items():
            assert int(r.hget(f"{IDX}:v:{vid}", b.id)) == n
    live = {str(b.id) for b in layout.blocks}
    for key in r.scan_iter(f"{IDX}:v:*"):
        assert {k.decode() for k in r.hkeys(key)} <= live
    assert {k.decode().rsplit(":", 1)[1] for k in r.scan_iter(f"{IDX}:b:*")} == live
