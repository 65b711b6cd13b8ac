"""Performing a job in the worker itself (``--no-fork``, and every thread of ``--threads``)."""

from __future__ import annotations

import time

from resqued import hooks, job_hooks, proctitle
from resqued.resque.payload import Job
from resqued.worker.control import Control
from resqued.worker.outcome import Outcome


class InProcessJob:
    def __init__(self, control: Control) -> None:
        self.control = control

    def run(self, job: Job, cls: type) -> Outcome:
        proctitle.worker(f"Processing {job.queue} since {int(time.time())} [{job.class_name}]")
        control = self.control
        error = control.interruptible.call(
            lambda: job_hooks.perform(cls, job.args), control.interruption
        )
        if error is None:
            return Outcome()
        hooks.on_failure(cls, error, job.args)
        return Outcome.of(error)
