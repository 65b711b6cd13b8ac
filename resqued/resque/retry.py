"""resque-retry's settings and keys: when a failed job runs again, where its attempts count.

A class declares ``@resqued.job("Archive", retry=resqued.Retry(limit=3, backoff=[5, 60]))``.
The attempt count lives where resque-retry keeps it, so a job retried by a Ruby
worker and by ours counts the same attempts:

- ``resque-retry:<class>:<identifier>`` (under the namespace): the attempt of the
  run in hand, 0 for the first (``SETNX -1`` then ``INCR`` before each run);
- ``failure-resque-retry:<class>:<identifier>``: the last failure of a job that
  will run again (its record, kept twice the retry's delay);
- the identifier is the SHA-1 of the arguments joined with ``-`` as Ruby's
  ``Array#join`` writes them (``ruby_join``), or none for no arguments.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

DEFAULT_BACKOFF = (0, 60, 600, 3600, 10_800, 21_600)  # resque-retry's ExponentialBackoff


@dataclass(frozen=True)
class Retry:
    """How a job class is retried (resque-retry's ``@retry_limit``, ``@retry_delay``, ...).

    - ``limit``: retries after the first run (1 by default, the length of ``backoff``
      when one is given); 0 never retries, a negative limit retries forever.
    - ``delay``: seconds before each retry (0: queued again at once); or
    - ``backoff``: seconds before the first, second, ... retry, the last repeated.
    - ``exceptions``: the exception classes that are retried (default: ``Exception``;
      ``resqued.JobTimeout`` is a ``BaseException`` and must be named to be retried).
    - ``jitter``: the delay is multiplied by a random factor between 1 and
      ``1 + jitter``, or between the two of a pair (resque-retry's multiplicands).
    - ``expire_key_after``: seconds the attempt key outlives each retry's delay
      (resque-retry's ``expire_retry_key_after``); None keeps it until the job ends.
    """

    limit: int | None = None
    delay: float = 0
    backoff: Sequence[float] | None = None
    exceptions: tuple[type[BaseException], ...] = (Exception,)
    jitter: float | tuple[float, float] = 0.0
    expire_key_after: float | None = None
    _factor: tuple[float, float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        where = "resqued.Retry"
        limit = self.limit
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
            raise ValueError(f"{where}: limit must be a whole number of retries, not {limit!r}")
        _seconds(self.delay, f"{where}: delay")
        if self.backoff is not None:
            backoff = self.backoff
            if isinstance(backoff, str | bytes) or not isinstance(backoff, Sequence):
                raise ValueError(f"{where}: backoff must be a list of seconds, not {backoff!r}")
            if not self.backoff:
                raise ValueError(f"{where}: backoff must hold at least one delay")
            if self.delay:
                raise ValueError(f"{where}: give delay or backoff, not both")
            for value in self.backoff:
                _seconds(value, f"{where}: backoff")
            object.__setattr__(self, "backoff", tuple(self.backoff))
        exceptions = self.exceptions
        if isinstance(exceptions, type):
            exceptions = (exceptions,)
        if not isinstance(exceptions, tuple | list) or not all(
            isinstance(e, type) and issubclass(e, BaseException) for e in exceptions
        ):
            raise ValueError(f"{where}: exceptions must be exception classes, not {exceptions!r}")
        object.__setattr__(self, "exceptions", tuple(exceptions))
        object.__setattr__(self, "_factor", _factor(self.jitter, where))
        if self.expire_key_after is not None:
            _seconds(self.expire_key_after, f"{where}: expire_key_after")

    @property
    def retry_limit(self) -> int:
        if self.limit is not None:
            return self.limit
        return len(self.backoff) if self.backoff is not None else 1

    def accepts(self, exc: BaseException) -> bool:
        """Whether a run that raised ``exc`` may run again (the limit aside)."""
        return isinstance(exc, self.exceptions)

    def limit_reached(self, attempt: int) -> bool:
        """Whether the run numbered ``attempt`` (0: the first) was the last one allowed."""
        limit = self.retry_limit
        return limit == 0 or (limit > 0 and attempt >= limit)

    def delays(self) -> tuple[float, ...]:
        """The base delay of each retry, the last repeated (for the attempt key's expiry)."""
        return tuple(self.backoff) if self.backoff is not None else (self.delay,)

    def max_factor(self) -> float:
        return self._factor[1]

    def delay_for(
        self, attempt: int, rand: Callable[[float, float], float] = random.uniform
    ) -> int:
        """Whole seconds before the retry of the run numbered ``attempt`` (0: queue it now)."""
        delays = self.delays()
        base = delays[min(max(attempt, 0), len(delays) - 1)]
        low, high = self._factor
        factor = low if low == high else rand(low, high)
        return max(0, math.floor(base * factor))


def _seconds(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} must be a number of seconds, not {value!r}")
    if not 0 <= value < float("inf"):
        raise ValueError(f"{what} must be a number of seconds of at least 0, not {value!r}")
    return float(value)


def _factor(jitter: object, where: str) -> tuple[float, float]:
    if isinstance(jitter, tuple | list) and len(jitter) == 2:
        low = _seconds(jitter[0], f"{where}: jitter")
        high = _seconds(jitter[1], f"{where}: jitter")
        if low > high:
            raise ValueError(f"{where}: jitter's first factor must not exceed its second")
        return low, high
    if isinstance(jitter, bool) or not isinstance(jitter, int | float) or not 0 <= jitter < 1e6:
        raise ValueError(f"{where}: jitter must be a fraction (0.5) or two factors, not {jitter!r}")
    return 1.0, 1.0 + float(jitter)


def policy_of(cls: type | None) -> Retry | None:
    """The class's retry settings (``@resqued.job(retry=...)``), or None."""
    policy = getattr(cls, "resqued_retry", None) if cls is not None else None
    return policy if isinstance(policy, Retry) else None


# -- the keys, as resque-retry builds them -----------------------------------------------------


def identifier(args: Sequence[Any]) -> str | None:
    """resque-retry's default ``retry_identifier``: SHA-1 of ``args.join('-')``, None if empty."""
    joined = ruby_join(args)
    return hashlib.sha1(joined.encode("utf-8", "surrogatepass")).hexdigest() if joined else None


def attempt_key(class_name: str, ident: str | None) -> str:
    """``resque-retry:<class>:<identifier>`` without whitespace (before the namespace)."""
    parts = ["resque-retry", class_name] + ([ident] if ident is not None else [])
    return _WHITESPACE.sub("", ":".join(parts))


def failure_key(key: str) -> str:
    """Where the last failure of a job that runs again is kept (``failure-`` + the attempt key)."""
    return "failure-" + key


def identifier_for(cls: type | None, args: Sequence[Any]) -> str | None:
    """The class's own ``retry_identifier(*args)`` if it has one (as in resque-retry), else ours."""
    custom = getattr(cls, "retry_identifier", None) if cls is not None else None
    if callable(custom):
        value = custom(*args)
        return None if value is None else str(value)
    return identifier(args)


_WHITESPACE = re.compile(r"[ \t\r\n\f\v]")


def ruby_join(values: Sequence[Any], sep: str = "-") -> str:
    """Ruby's ``Array#join`` of JSON values: nested lists joined too, hashes as ``inspect``."""
    return sep.join(ruby_join(v, sep) if isinstance(v, list) else ruby_to_s(v) for v in values)


def ruby_to_s(value: Any) -> str:
    """Ruby's ``to_s`` of a JSON value (nil is empty, a hash its ``inspect``)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list | bool | float):
        return ruby_inspect(value)
    return str(value)


def ruby_inspect(value: Any) -> str:
    """Ruby's ``inspect`` of a JSON value (Ruby up to 3.3: ``{"a"=>1, "b"=>[1, nil]}``)."""
    if value is None:
        return "nil"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _inspect_string(value)
    if isinstance(value, float):
        return _float_to_s(value)
    if isinstance(value, list):
        return "[" + ", ".join(ruby_inspect(v) for v in value) + "]"
    if isinstance(value, dict):
        pairs = (f"{ruby_inspect(k)}=>{ruby_inspect(v)}" for k, v in value.items())
        return "{" + ", ".join(pairs) + "}"
    return str(value)


def _float_to_s(value: float) -> str:
    """Ruby's ``Float#to_s``: shortest digits; fixed between 1e-4 and 1e16, else ``1.5e+16``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        return sign + "0.0"
    digits_tuple = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(map(str, digits_tuple.digits))
    decpt = len(digits) + int(digits_tuple.exponent)  # digits before the point
    if -4 < decpt <= 0:
        return f"{sign}0.{'0' * -decpt}{digits}"
    if 0 < decpt < 16:
        whole, frac = digits[:decpt].ljust(decpt, "0"), digits[decpt:]
        return f"{sign}{whole}.{frac or '0'}"
    exp = decpt - 1
    return f"{sign}{digits[0]}.{digits[1:] or '0'}e{'+' if exp >= 0 else '-'}{abs(exp):02d}"


_NAMED = {
    '"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\f": "\\f",
    "\v": "\\v", "\b": "\\b", "\a": "\\a", "\x1b": "\\e",
}  # fmt: skip


def _inspect_string(text: str) -> str:
    """Ruby's ``String#inspect`` of UTF-8 text: escapes, ``\\#{``, other controls as ``\\u0001``."""
    out = ['"']
    for i, ch in enumerate(text):
        named = _NAMED.get(ch)
        if named is not None:
            out.append(named)
        elif ch == "#" and text[i + 1 : i + 2] in ("{", "$", "@"):
            out.append("\\#")
        elif _escaped(ch):
            cp = ord(ch)
            out.append(f"\\u{cp:04X}" if cp <= 0xFFFF else f"\\u{{{cp:X}}}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _escaped(ch: str) -> bool:
    """Whether Ruby shows ``ch`` as ``\\uXXXX``: controls (but U+0085), line and paragraph
    separators, and code points Unicode has not assigned (Ruby's Unicode may be older)."""
    if ch == "\x85":
        return False
    return unicodedata.category(ch) in ("Cc", "Zl", "Zp", "Cn", "Cs")
