"""The worker's control pieces without processes: interrupting in-process jobs, the job budget."""

from __future__ import annotations

import sys
import threading

import pytest

from resqued.worker import JobKilled, TermException
from resqued.worker.budget import JobBudget
from resqued.worker.interrupt import Interruptible


def test_a_region_reports_what_it_raised():
    region = Interruptible()
    assert region.call(lambda: None) is None
    error = region.call(lambda: 1 / 0)
    assert isinstance(error, ZeroDivisionError)
    assert isinstance(region.call(lambda: exit(3)), SystemExit)


def test_nothing_to_interrupt_outside_the_region():
    region = Interruptible()
    assert region.interrupt(JobKilled, "x") is False


def test_an_interruption_asked_before_the_job_started_stops_it_before_it_runs():
    ran = []
    error = Interruptible().call(lambda: ran.append(1), lambda: TermException("SIGINT"))
    assert ran == [] and isinstance(error, TermException) and str(error) == "SIGINT"


def test_the_job_s_own_thread_raises_at_once():
    region = Interruptible()

    def job():
        region.interrupt(JobKilled, "job killed by USR1")  # as a signal handler would
        raise AssertionError("not reached")

    error = region.call(job)
    assert isinstance(error, JobKilled) and str(error) == "job killed by USR1"


def test_another_thread_interrupts_a_job_running_python_code():
    region = Interruptible()
    started, result = threading.Event(), []

    def job():
        started.set()
        while True:  # pure Python: interruptible
            pass

    t = threading.Thread(target=lambda: result.append(region.call(job)))
    t.start()
    started.wait(10)
    assert region.interrupt(TermException, "SIGINT") is True
    assert region.interrupt(TermException, "again") is False  # one interruption per job
    t.join(10)
    assert not t.is_alive()
    [error] = result
    assert isinstance(error, TermException) and str(error) == "SIGINT"


def test_an_interruption_racing_the_end_of_a_job_never_leaks_into_the_caller():
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: many races
    region = Interruptible()
    done = threading.Event()
    escaped: list[BaseException] = []
    landed = []

    def worker():
        try:
            for _ in range(20000):
                if region.call(lambda: sum(range(50))) is not None:
                    landed.append(1)
                sum(range(50))  # the worker's own code between jobs
        except BaseException as exc:  # an interruption landed outside a job
            escaped.append(exc)
        finally:
            done.set()

    t = threading.Thread(target=worker)
    try:
        t.start()
        sent = 0
        while not done.is_set():
            sent += region.interrupt(JobKilled, "x")
        t.join(30)
    finally:
        sys.setswitchinterval(interval)
    assert escaped == []
    assert sent >= len(landed) > 0  # interruptions did land inside jobs, and only there


@pytest.mark.parametrize("threads", [1, 4])
def test_the_budget_gives_exactly_its_jobs_across_threads(threads):
    exhausted = []
    budget = JobBudget(50, lambda: exhausted.append(1))
    performed = []

    def worker(n):
        i = 0
        while budget.take():
            i += 1
            if i % 3 == 0:  # a reserve that found nothing
                budget.give_back()
                continue
            budget.used_one()
            performed.append(n)

    ts = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(10)
    assert len(performed) == 50 and budget.used == 50
    assert exhausted == [1]
