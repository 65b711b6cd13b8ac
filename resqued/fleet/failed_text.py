"""How a failed job is printed (``resqued failed``): a line of a list, the text of ``show``,
and the JSON form of both."""

from __future__ import annotations

import json
from typing import Any

from resqued.fleet.fmt import printable
from resqued.fleet.parse import parse_time
from resqued.resque.failed import FailedJob


def row(job: FailedJob, width: int) -> str:
    """One line of ``failed list`` (control characters escaped)."""
    if job.record is None:
        return printable(f"  #{job.index:<{width}}  (not a JSON record) {first(raw(job), 60)}")
    retried = f"  (retried {job.retried_at})" if job.retried_at else ""
    return printable(
        f"  #{job.index:<{width}}  {job.failed_at or '?'}  {job.queue or '?'}  "
        f"{job.class_name or '?'}  {job.exception or '?'}: {first(job.error)}{retried}"
    )


def first(text: str, limit: int = 100) -> str:
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def raw(job: FailedJob) -> str:
    return job.raw.decode("utf-8", "replace")


def show(job: FailedJob) -> str:
    """One failed job in full, as text (control characters escaped, one line each)."""
    out = [f"failed job #{job.index}"]
    if job.record is None:
        out += ["  not a JSON record; as stored:", "  " + raw(job)]
        return "\n".join(printable(line) for line in out)
    rows = [
        ("failed at", job.failed_at),
        ("queue", job.queue),
        ("class", job.class_name),
        ("args", json.dumps(job.args, ensure_ascii=False)),
        ("exception", job.exception),
        ("error", job.error),
        ("worker", job.worker),
        ("retried at", job.retried_at or "never"),
        ("payload", json.dumps(job.payload, ensure_ascii=False)),
    ]
    out += [f"  {name:<10}  {value}" for name, value in rows]
    out.append("  backtrace" if job.backtrace else "  backtrace   (none)")
    out += [f"    {line}" for line in job.backtrace]
    return "\n".join(printable(line) for line in out)


def job_dict(job: FailedJob) -> dict[str, Any]:
    """The JSON form of one failed job (``failed list --json``, ``failed show --json``)."""
    readable = job.record is not None
    return {
        "index": job.index,
        "digest": job.digest,
        "failed_at": parse_time(job.failed_at),
        "failed_at_text": job.failed_at,
        "queue": job.queue,
        "class": job.class_name,
        "args": job.args,
        "exception": job.exception,
        "error": job.error,
        "backtrace": job.backtrace,
        "worker": job.worker,
        "retried_at": parse_time(job.retried_at),
        "retried_at_text": job.retried_at,
        "payload": job.payload,
        "raw": None if readable else raw(job),
    }
