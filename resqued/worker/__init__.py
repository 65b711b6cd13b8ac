"""The Resque worker: reserve, perform (in a forked child, in process, or in threads), report.

Modules, each one job:

- ``options``: what a worker is told (``WorkerOptions``, ``switch``)
- ``outcome``: what happened to one job
- ``signals``: the signal table; handlers forward to the control surface
- ``control``: the control surface (``stop``, ``pause``, ``resume``,
  ``kill_current_job``, ``reopen_logs``, ``current_job``)
- ``interrupt``: raising inside an in-process job (TERM, USR1)
- ``retry``: calling Redis until it answers
- ``loop``: the reserve loop and the pending outcome (one round trip per job)
- ``idle_wait``: the BLMOVE hand-over waits of an idle worker
- ``job_child``: fork per job, the child's side, supervision with a pidfd
- ``job_report``: the job child's bounded report to its worker
- ``child_process``: a job child as a process (its group, pidfd, reaping)
- ``in_process``: performing a job in the worker itself
- ``heartbeat``: the Redis heartbeat thread of a worker no listener watches
- ``lifecycle``: ``Worker``, one worker from register to unregister
- ``threads``: ``ThreadedWorker``, several workers in one process
- ``budget``: ``jobs_per_fork``, counted for the whole process
- ``limits``: a job's time limits, the guard rails' exceptions, the SIGALRM alarm
- ``watchdog``: the in-process worker's kernel timer that KILLs it at a job's hard limit
- ``orphaned``: a worker whose listener died holds the hard memory limit itself
- ``build``: the one place a worker is built from a config row
"""

from resqued.worker.build import build_worker, options_for
from resqued.worker.control import CurrentJob
from resqued.worker.lifecycle import Worker
from resqued.worker.options import WorkerOptions
from resqued.worker.signals import JobKilled, TermException
from resqued.worker.threads import ThreadedWorker

__all__ = [
    "CurrentJob",
    "JobKilled",
    "TermException",
    "ThreadedWorker",
    "Worker",
    "WorkerOptions",
    "build_worker",
    "options_for",
]
