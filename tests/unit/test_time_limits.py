"""Time limits inside a process: SIGALRM, and a soft interruption from another thread."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from resqued.worker import JobKilled
from resqued.worker.interrupt import Interruptible
from resqued.worker.limits import Alarm, JobTimeout, SoftTimeout, TimeLimits


def raise_here(exc_type, message, soft):
    raise exc_type(message)


def test_the_alarm_raises_soft_then_hard_in_the_job():
    alarm = Alarm(raise_here)
    seen = []
    assert alarm.arm(TimeLimits(hard=0.4, soft=0.1), time.monotonic(), hard_too=True)
    try:
        with pytest.raises(
            JobTimeout, match=r"job timed out after 0\.4s \(hard time limit 0\.4s\)"
        ):
            while True:  # a job that catches the soft limit and goes on
                try:
                    time.sleep(0.01)
                except SoftTimeout as exc:
                    seen.append(str(exc))
    finally:
        alarm.disarm()
    assert seen == ["job passed its soft time limit of 0.1s"]


def test_the_alarm_only_rings_for_a_soft_limit_unless_asked_for_the_hard_one():
    alarm = Alarm(raise_here)
    assert not alarm.arm(TimeLimits(hard=5.0), time.monotonic())  # nothing to do
    assert alarm.arm(TimeLimits(hard=5.0, soft=0.05), time.monotonic())
    try:
        with pytest.raises(SoftTimeout):
            time.sleep(2)  # interrupted: the handler raises in the sleeping main thread
    finally:
        alarm.disarm()


def test_a_disarmed_alarm_never_rings():
    alarm = Alarm(raise_here)
    alarm.arm(TimeLimits(soft=0.05), time.monotonic())
    assert signal.getitimer(signal.ITIMER_REAL)[0] > 0  # armed: a timer runs
    alarm.disarm()
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)  # nothing left to ring


def test_a_soft_interruption_never_replaces_a_stronger_one_but_may_be_followed():
    region = Interruptible()
    started, result = threading.Event(), []

    def job():
        started.set()
        try:
            while True:
                pass
        except SoftTimeout:
            while True:  # caught: the job goes on, a later USR1 still ends it
                pass

    t = threading.Thread(target=lambda: result.append(region.call(job)))
    t.start()
    started.wait(10)
    assert region.interrupt(SoftTimeout, "soft", soft=True) is True
    assert region.interrupt(SoftTimeout, "soft", soft=True) is False  # once
    deadline = time.monotonic() + 10
    while not region.interrupt(JobKilled, "job killed by USR1"):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    t.join(10)
    assert not t.is_alive()
    assert isinstance(result[0], JobKilled) and str(result[0]) == "job killed by USR1"
