"""Job payloads, encoded byte for byte as Ruby Resque encodes them."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any


class MalformedPayload(Exception):
    """A queue entry that is not a JSON object with a string ``class``."""


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def dumps(value: Any) -> bytes:
    """Ruby's ``JSON.generate``: compact separators, raw UTF-8.

    A lone surrogate (valid JSON as ``"\\udcff"``, not encodable as UTF-8) stays escaped.
    """
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text).encode("utf-8")


def encode(class_name: str, args: list[Any] | tuple[Any, ...], **extra: Any) -> bytes:
    """``{"class":..,"args":[..]}`` plus any extra fields, in that order."""
    return dumps({"class": class_name, "args": list(args), **extra})


@dataclass
class Job:
    """One reserved job: where it came from and what it says."""

    queue: str
    raw: bytes
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def class_name(self) -> str:
        name = self.payload.get("class", "")
        return name if isinstance(name, str) else ""

    @property
    def args(self) -> list[Any]:
        args = self.payload.get("args", [])
        return args if isinstance(args, list) else [args]

    def __str__(self) -> str:
        return f"({self.queue} job: {self.class_name}{tuple(self.args)!r})"


def decode(queue: str, raw: bytes) -> Job:
    """Parse a queue entry; raise MalformedPayload, naming the cause, when it is unusable.

    Whatever the bytes, nothing else is raised.
    """
    try:
        payload = json.loads(raw)
    except ValueError as exc:  # UnicodeDecodeError and too many digits included
        raise MalformedPayload(f"payload is not valid JSON: {exc}") from None
    except RecursionError:
        raise MalformedPayload("payload is nested too deeply") from None
    if not isinstance(payload, dict):
        raise MalformedPayload(f"payload is a JSON {type(payload).__name__}, not an object")
    if not isinstance(payload.get("class"), str) or not payload["class"]:
        raise MalformedPayload('payload has no "class" string')
    return Job(queue, raw, payload)


def malformed_stand_in(raw: bytes) -> dict[str, Any]:
    """What a failure record shows for an unusable entry: the raw text, kept whole."""
    return {"class": "resqued.MalformedPayload", "args": [raw.decode("utf-8", "replace")]}
