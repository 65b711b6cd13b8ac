"""A job child's report to its worker: one JSON document written to a pipe, bounded.

The child encodes (``write``, ``report_bytes``), the worker decodes (``read``).
A success is the constant ``SUCCESS`` (nothing to say, nothing to encode); a
failure is ``{"exception", "error", "backtrace"}`` (and ``"retry": true`` when the
job class's ``Retry`` accepts the exception), cut down until it fits
``MAX_RESULT_BYTES``, so that it fits one pipe buffer and the child never waits
for its worker.
"""

from __future__ import annotations

import errno
import json
import os
from typing import Any

from resqued.resque import payload
from resqued.worker.outcome import Outcome

MAX_RESULT_BYTES = 60_000  # a child's report fits in one pipe buffer
SUCCESS = b"{}"  # the report of a job that succeeded: Outcome().report(), precomputed


def write(fd: int, outcome: Outcome) -> None:
    try:
        os.write(fd, report_bytes(outcome))
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise


def report_bytes(outcome: Outcome) -> bytes:
    """The child's report, at most MAX_RESULT_BYTES (a success: the constant SUCCESS)."""
    if outcome.exception is None:
        return SUCCESS
    report = _encoded(outcome)
    data = payload.dumps(report)
    if len(data) > MAX_RESULT_BYTES:
        report["backtrace"] = report["backtrace"][:20]
        report["error"] = report["error"][:10_000]
        data = payload.dumps(report)
    if len(data) > MAX_RESULT_BYTES:  # long lines, or text that escapes to 6 bytes a character
        report["exception"] = report["exception"][:1_000]
        report["error"] = report["error"][:4_000]
        report["backtrace"] = [line[:200] for line in report["backtrace"]]
        data = payload.dumps(report)
    return data


def read(data: bytes) -> Outcome | None:
    """The outcome a child reported; None when ``data`` is not one of our children's reports."""
    if data == SUCCESS:
        return Outcome()
    try:
        report = json.loads(data)
        if not report.get("exception"):
            return Outcome()
        return Outcome(
            str(report["exception"]),
            str(report["error"]),
            list(report["backtrace"]),
            report.get("retry") is True,
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _encoded(outcome: Outcome) -> dict[str, Any]:
    report: dict[str, Any] = {
        "exception": outcome.exception,
        "error": outcome.error,
        "backtrace": outcome.backtrace or [],
    }
    if outcome.retryable:
        report["retry"] = True
    return report
