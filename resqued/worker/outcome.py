"""What happened to one job (a job child's report of it is ``job_report.py``)."""

from __future__ import annotations

from dataclasses import dataclass

from resqued.resque import failure
from resqued.resque.retry import policy_of


@dataclass
class Outcome:
    """None exception means success.  ``retryable``: the job class's ``Retry`` accepts the
    exception (decided where the exception is known: in the job's own process)."""

    exception: str | None = None
    error: str = ""
    backtrace: list[str] | None = None
    retryable: bool = False

    @classmethod
    def of(cls, exc: BaseException, job_class: type | None = None) -> Outcome:
        policy = policy_of(job_class)
        return cls(
            failure.exception_name(exc),
            str(exc),
            failure.backtrace_of(exc),
            policy is not None and policy.accepts(exc),
        )
