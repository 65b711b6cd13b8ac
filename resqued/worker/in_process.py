"""Performing a job in the worker itself (``--no-fork``, and every thread of ``--threads``).

A single in-process worker (``alarm``) times its jobs with SIGALRM: ``SoftTimeout``
is raised inside the job at its soft limit.  At the hard limit its listener
kills the whole worker (it reads the job's start and limit from the scoreboard);
a worker no listener watches (``hard_too``) raises ``JobTimeout`` inside the job
instead.  In a threaded worker the main thread times every thread's job
(``threads.py``).
"""

from __future__ import annotations

from resqued import hooks, job_hooks
from resqued.process import proctitle
from resqued.resque.payload import Job
from resqued.worker.control import Control
from resqued.worker.limits import Alarm
from resqued.worker.outcome import Outcome


class InProcessJob:
    def __init__(self, control: Control, alarm: bool = True, hard_too: bool = False) -> None:
        self.control = control
        self.alarm = Alarm(self._interrupt) if alarm else None
        self.hard_too = hard_too

    def run(self, job: Job, cls: type) -> Outcome:
        control = self.control
        current = control.current_job or control.job_started(job)
        limits = current.limits
        proctitle.worker(proctitle.processing(job.queue, job.class_name, limits.tag))
        alarm = self.alarm
        armed = alarm is not None and alarm.arm(limits, current.begun, self.hard_too)
        try:
            error = control.interruptible.call(
                lambda: job_hooks.perform(cls, job.args), control.interruption
            )
        finally:
            if armed and alarm is not None:
                alarm.disarm()
        if error is None:
            return Outcome()
        hooks.on_failure(cls, error, job.args)
        return Outcome.of(error, cls)

    def _interrupt(self, exc_type: type[BaseException], message: str, soft: bool) -> object:
        return self.control.interruptible.interrupt(exc_type, message, soft)
