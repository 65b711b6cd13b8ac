"""What happened to one job, and the report a job child sends its worker."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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

    @classmethod
    def from_report(cls, report: dict[str, Any]) -> Outcome:
        if report.get("exception"):
            return cls(str(report["exception"]), str(report["error"]), list(report["backtrace"]))
        return cls()

    def report(self) -> dict[str, Any]:
        """The child's report: empty for success."""
        if self.exception is None:
            return {}
        return {"exception": self.exception, "error": self.error, "backtrace": self.backtrace or []}
