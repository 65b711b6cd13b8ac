"""One record of the ``failed`` list: its fields, its identity, and the filters that pick it.

A record is what Ruby Resque, pyres or resqued RPUSHed: a JSON object, or (rarely)
anything else.  Besides its fields, a record has two short names used by the index
(``failed_index``): its *identity*, a fingerprint that a retry (``retried_at`` set at
the end by Ruby or by us) does not change, and its *fields*, the (queue, class,
exception, exception as stored) a filter looks at.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from resqued.errors import ResquedError
from resqued.resque import times

# A record's ``retried_at``, as Ruby's requeue and ours leave it: the last key.
_RETRIED_TAIL = re.compile(rb',"retried_at":(?:"(?:[^"\\]|\\.)*"|null)\}\Z')
Fields = tuple[str, str, str, str]  # queue, class, exception, exception as stored


def _text(value: Any) -> str:
    return "" if value is None else str(value)


class FailedJobError(ResquedError):
    """A failed job that is not there, changed meanwhile, or cannot be retried."""


def identity(raw: bytes) -> str:
    """A fingerprint of a record that its ``retried_at`` does not change (16 hex digits)."""
    m = _RETRIED_TAIL.search(raw)
    base = raw[: m.start()] + b"}" if m else raw
    return hashlib.sha1(base).hexdigest()[:16]


def with_retried_at(raw: bytes, record: dict[str, Any], stamp: str) -> bytes:
    """The record with ``retried_at`` set to ``stamp``, every other byte kept when it can be
    (appended, or replaced where Ruby and we put it: last); else the record re-encoded."""
    from resqued.resque.payload import dumps

    value = dumps(stamp)
    m = _RETRIED_TAIL.search(raw)
    if m:
        return raw[: m.start()] + b',"retried_at":' + value + b"}"
    if "retried_at" not in record and raw.rstrip().endswith(b"}") and len(record) > 0:
        return raw.rstrip()[:-1] + b',"retried_at":' + value + b"}"
    return dumps({**record, "retried_at": stamp})


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
    def identity(self) -> str:
        return identity(self.raw)

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
    def stored_exception(self) -> str:
        return _text(self._get("exception"))

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

    @property
    def fields(self) -> Fields:
        """What the index keeps of this record: every filter but ``retried`` reads only this."""
        return (self.queue, self.class_name, self.exception, self.stored_exception)

    def retried_record(self) -> bytes:
        """This record as a retry leaves it: ``retried_at`` now (requires a JSON record)."""
        assert self.record is not None
        return with_retried_at(self.raw, self.record, times.failed_at())


def fields_of(raw: bytes) -> Fields:
    """``FailedJob.parse(0, raw).fields``, faster (the index reads every record once)."""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return ("", "", "", "")
    if not isinstance(doc, dict):
        return ("", "", "", "")
    payload = doc.get("payload")
    class_name = _text(payload.get("class")) if isinstance(payload, dict) else ""
    stored = _text(doc.get("exception"))
    exception = stored if stored != "type" else FailedJob(0, raw, doc).exception
    return (_text(doc.get("queue")), class_name, exception, stored)


@dataclass(frozen=True)
class FailureFilter:
    """Which failed jobs an operation applies to; empty fields match everything."""

    queue: str | None = None
    class_name: str | None = None
    exception: str | None = None
    retried: bool | None = None  # True: only retried ones; False: only never retried
    text: str | None = None  # found, any case, in class, queue, exception, error, args, worker
    worker: str | None = None  # the worker that ran it (its id)

    def matches_fields(self, fields: Fields) -> bool:
        """Whether a record with these fields can match (all of the filter but ``retried``)."""
        queue, class_name, exception, stored = fields
        if self.queue is not None and queue != self.queue:
            return False
        if self.class_name is not None and class_name != self.class_name:
            return False
        return self.exception is None or self.exception in (exception, stored)

    def matches(self, job: FailedJob) -> bool:
        if not self.matches_fields(job.fields):
            return False
        if self.text and not _finds(self.text, job):
            return False
        if self.worker is not None and job.worker != self.worker:
            return False
        return self.retried is None or (job.retried_at is not None) == self.retried

    def might_match(self, raw: bytes) -> bool:
        """A cheap test on the bytes: False only when the record cannot match."""
        if self.retried and b'"retried_at"' not in raw:
            return False
        if self.text and _plain(self.text) and self.text.lower().encode() not in raw.lower():
            return False
        for value in (self.queue, self.class_name, self.worker):
            if value and _plain(value):
                if value.encode() not in raw:
                    return False
        return True

    @property
    def empty(self) -> bool:
        return self == FailureFilter()

    def named(self) -> list[tuple[str, str]]:
        """The (kind, value) pairs the index keeps counts of: q, c, e."""
        pairs = (("q", self.queue), ("c", self.class_name), ("e", self.exception))
        return [(kind, value) for kind, value in pairs if value is not None]

    @property
    def exact_by_index(self) -> bool:
        """Whether the index's counts are exact for this filter: it names one of queue, class
        and exception, and nothing else."""
        unindexed = (self.retried, self.text, self.worker)
        return len(self.named()) == 1 and all(v is None for v in unindexed)


def _plain(value: str) -> bool:
    """Whether ``value`` appears as it is in any JSON that holds it (no escapes)."""
    return value.isascii() and value.isprintable() and not set(value) & {'"', "\\", "/"}


def _finds(text: str, job: FailedJob) -> bool:
    """``text`` (any case) in the job's class, queue, exception, error, arguments or worker."""
    needle = text.casefold()
    args = json.dumps(job.args, ensure_ascii=False) if job.args else ""
    haystack = (job.class_name, job.queue, job.exception, job.error, args, job.worker)
    return any(needle in part.casefold() for part in haystack)
