"""The ``failed`` list, read and changed as resque-web does (``Resque::Failure::Redis``).

A failed job is named by its index in the list (0 is the oldest), the same id
resque-web shows.  Retrying sets ``retried_at`` in the record (LSET, the record
stays) and pushes the job to its original queue (SADD ``queues`` + RPUSH);
removing takes the record out (LSET to a marker, LREM the marker).  Each change
to one record is one Lua script that first checks the record is still the one
read, so a concurrent change never makes us retry or remove the wrong job.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from resqued.errors import ResquedError
from resqued.resque import times
from resqued.resque.payload import dumps
from resqued.resque.store import Store

CHUNK = 500  # records per LRANGE when scanning the whole list
PASSES = 5  # rescans of a filter operation when the list keeps changing under it

# KEYS: failed, queues, queue:<q>.  ARGV: index, record as read, new record, payload.
_RETRY = """
if redis.call('LINDEX', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('LSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[5])
redis.call('RPUSH', KEYS[3], ARGV[4])
return 1
"""

# KEYS: failed.  ARGV: index, record as read, a marker no record holds.
_REMOVE = """
if redis.call('LINDEX', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('LSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('LREM', KEYS[1], 1, ARGV[3])
return 1
"""


class FailedJobError(ResquedError):
    """A failed job that is not there, changed meanwhile, or cannot be retried."""


def _bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


def _text(value: Any) -> str:
    return "" if value is None else str(value)


@dataclass(frozen=True)
class FailedJob:
    """One record of the ``failed`` list, as written by Ruby Resque, pyres or resqued."""

    index: int
    raw: bytes
    record: dict[str, Any] | None  # None: not a JSON object (shown, removable, not retryable)

    @classmethod
    def parse(cls, index: int, raw: bytes) -> FailedJob:
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            doc = None
        return cls(index, raw, doc if isinstance(doc, dict) else None)

    def _get(self, name: str) -> Any:
        return self.record.get(name) if self.record else None

    @property
    def digest(self) -> str:
        """A short fingerprint of the record's bytes: names this record, not just its index."""
        return hashlib.sha256(self.raw).hexdigest()[:16]

    @property
    def payload(self) -> dict[str, Any] | None:
        p = self._get("payload")
        return p if isinstance(p, dict) else None

    @property
    def queue(self) -> str:
        return _text(self._get("queue"))

    @property
    def class_name(self) -> str:
        return _text(self.payload.get("class")) if self.payload else ""

    @property
    def args(self) -> list[Any]:
        args = self.payload.get("args") if self.payload else None
        if args is None:
            return []
        return args if isinstance(args, list) else [args]

    @property
    def backtrace(self) -> list[str]:
        bt = self._get("backtrace")
        if isinstance(bt, list):
            return [_text(line) for line in bt]
        return _text(bt).splitlines()

    @property
    def exception(self) -> str:
        """The exception's class name.  pyres writes ``"type"``: the real name is then read
        from the last line of its Python traceback (``ValueError: boom``)."""
        name = _text(self._get("exception"))
        if name == "type":
            for line in reversed(self.backtrace):
                head, sep, _ = line.strip().partition(":")
                if sep and head and " " not in head:
                    return head
        return name

    @property
    def error(self) -> str:
        return _text(self._get("error"))

    @property
    def worker(self) -> str:
        return _text(self._get("worker"))

    @property
    def failed_at(self) -> str:
        return _text(self._get("failed_at"))

    @property
    def retried_at(self) -> str | None:
        value = self._get("retried_at")
        return None if value is None else _text(value)


@dataclass(frozen=True)
class FailureFilter:
    """Which failed jobs an operation applies to; empty fields match everything."""

    queue: str | None = None
    class_name: str | None = None
    exception: str | None = None
    retried: bool | None = None  # True: only retried ones; False: only never retried

    def matches(self, job: FailedJob) -> bool:
        if self.queue is not None and job.queue != self.queue:
            return False
        if self.class_name is not None and job.class_name != self.class_name:
            return False
        if self.exception is not None and self.exception not in (
            job.exception,
            _text(job._get("exception")),
        ):
            return False
        return self.retried is None or (job.retried_at is not None) == self.retried

    @property
    def empty(self) -> bool:
        return self == FailureFilter()


@dataclass(frozen=True)
class Page:
    jobs: list[FailedJob]  # newest first
    total: int  # jobs matching the filter
    start: int
    count: int


class FailedList:
    """Operations on one Redis server's ``failed`` list."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.key = store.keys.failed
        self._retry = store.redis.register_script(_RETRY)
        self._remove = store.redis.register_script(_REMOVE)

    def count(self) -> int:
        return int(self.store.redis.llen(self.key))

    def get(self, index: int) -> FailedJob:
        raw = self.store.redis.lindex(self.key, index) if index >= 0 else None
        if raw is None:
            raise FailedJobError(f"no failed job #{index} (the failed list has {self.count()})")
        return FailedJob.parse(index, _bytes(raw))

    def scan(self) -> Iterator[FailedJob]:
        """Every record, oldest first, read in chunks."""
        start = 0
        while True:
            chunk = self.store.redis.lrange(self.key, start, start + CHUNK - 1)
            for offset, raw in enumerate(chunk):
                yield FailedJob.parse(start + offset, _bytes(raw))
            if len(chunk) < CHUNK:
                return
            start += CHUNK

    def recent(self, count: int) -> list[FailedJob]:
        """The newest ``count`` records, newest first (one LRANGE)."""
        if count <= 0:
            return []
        pipe = self.store.redis.pipeline(transaction=True)
        pipe.llen(self.key)
        pipe.lrange(self.key, -count, -1)
        total, raws = pipe.execute()
        first = int(total) - len(raws)
        return [
            FailedJob.parse(first + i, _bytes(raw)) for i, raw in reversed(list(enumerate(raws)))
        ]

    def list(self, where: FailureFilter | None = None, start: int = 0, count: int = 20) -> Page:
        """One page of the jobs matching ``where``, newest first."""
        where = where or FailureFilter()
        start, count = max(0, start), max(0, count)
        if where.empty:
            total = self.count()
            hi = total - 1 - start
            lo = max(0, hi - count + 1)
            raws = self.store.redis.lrange(self.key, lo, hi) if hi >= 0 and count else []
            jobs = [FailedJob.parse(lo + i, _bytes(raw)) for i, raw in enumerate(raws)]
            return Page(jobs[::-1], total, start, count)
        matching = [job for job in self.scan() if where.matches(job)][::-1]
        return Page(matching[start : start + count], len(matching), start, count)

    def _check(self, index: int, digest: str | None) -> FailedJob:
        job = self.get(index)
        if digest is not None and job.digest != digest:
            raise FailedJobError(f"failed job #{index} changed since it was shown; look again")
        return job

    def retry(self, index: int, digest: str | None = None) -> FailedJob:
        """Re-enqueue one job to its queue and mark it ``retried_at``; return the new record."""
        job = self._check(index, digest)
        if not self._retry_one(job):
            raise FailedJobError(f"failed job #{index} changed while retrying it; look again")
        return self.get(index)

    def _retry_one(self, job: FailedJob) -> bool:
        if job.record is None:
            raise FailedJobError(f"failed job #{job.index} is not a JSON record: cannot retry it")
        payload = job.payload
        if not job.queue:
            raise FailedJobError(f"failed job #{job.index} names no queue: cannot retry it")
        if payload is None or not job.class_name:
            raise FailedJobError(f"failed job #{job.index} names no job class: cannot retry it")
        record = dict(job.record)
        record["retried_at"] = times.failed_at()
        keys = self.store.keys
        return bool(
            self._retry(
                keys=[self.key, keys.queues, keys.queue(job.queue)],
                args=[job.index, job.raw, dumps(record), dumps(payload), job.queue],
            )
        )

    def remove(self, index: int, digest: str | None = None) -> FailedJob:
        """Take one record out of the list; return it."""
        job = self._check(index, digest)
        if not self._remove_one(job):
            raise FailedJobError(f"failed job #{index} changed while removing it; look again")
        return job

    def _remove_one(self, job: FailedJob) -> bool:
        marker = "resqued:removing:" + secrets.token_hex(16)
        return bool(self._remove(keys=[self.key], args=[job.index, job.raw, marker]))

    def retry_matching(self, where: FailureFilter | None = None) -> int:
        """Retry every job matching ``where`` (all of them without one), as resque-web's
        "Retry Failed Jobs" does (already retried ones too, unless ``retried=False``).
        Jobs that cannot be retried (no queue or class) are skipped.  Returns how many."""
        where = where or FailureFilter()
        done = 0
        for job in self.scan():
            if not where.matches(job):
                continue
            try:
                done += self._retry_one(job)
            except FailedJobError:
                continue
        return done

    def remove_matching(self, where: FailureFilter | None = None) -> int:
        """Remove every job matching ``where``; returns how many were removed."""
        where = where or FailureFilter()
        if where.empty:
            return self.clear()
        removed = 0
        for _ in range(PASSES):
            targets = [job for job in self.scan() if where.matches(job)]
            # Highest index first: a removal never shifts the indices still to do.
            missed = sum(0 if self._remove_one(job) else 1 for job in reversed(targets))
            removed += len(targets) - missed
            if not missed:
                break
        return removed

    def clear(self) -> int:
        """Delete the whole list (resque-web's "Clear Failed Jobs"); returns how many it held."""
        pipe = self.store.redis.pipeline(transaction=True)
        pipe.llen(self.key)
        pipe.delete(self.key)
        count, _ = pipe.execute()
        return int(count)
