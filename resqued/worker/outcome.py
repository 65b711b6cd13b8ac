"""What happened to one job (a job child's report of it is ``job_report.py``)."""

from __future__ import annotations

from dataclasses import dataclass

from resqued.resque import failure


@dataclass
class Outcome:
    """None exception means success."""

    exception: str | None = None
    error: str = ""
    backtrace: list[str] | None = None

    @classmethod
    def of(cls, exc: BaseException) -> Outcome:
        return cls(failure.exception_name(exc), str(exc), failure.backtrace_of(exc))
