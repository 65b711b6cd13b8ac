"""Guard rails: which running worker to kill or retire, and why, as plain functions.

The listener reads each worker's scoreboard and, when memory limits apply,
its memory (``/proc``); ``judge`` turns one such reading into an ``Action``
(or none), and ``watch.py`` carries it out.  Nothing here makes a system
call, so every rule is tested directly (tests/unit/test_guard.py).

Rules, the first that applies wins:

1. stuck: a heartbeat older than ``stuck_timeout``.  A worker that has not beaten
   yet (it imports the app, runs ``after_fork`` hooks) counts from its start and
   has ``start_grace`` (the config's ``boot_timeout``, if longer).  A thread whose
   job runs in process cannot beat
   while it works: it is exempt (its job's time limit applies), and so is a
   worker (or thread) that is stopping: it has no job and unregisters, which
   on a slow Redis takes what Redis takes; a threaded worker's supervising
   thread always beats.  Kill the worker.
2. timed out: an in-process worker's job past its hard limit.  Kill the worker.
   (A job child is killed by its worker; a thread's job by its process.)
3. memory hard: above ``memory_limit``.  Fork mode with a job child: ask the
   worker to kill the job; otherwise kill the worker.
4. memory soft, max age: retire the worker (``QUIT``): it finishes its job,
   exits and is replaced.  Only once per worker.
"""

from __future__ import annotations

from dataclasses import dataclass

from resqued.scoreboard import Record
from resqued.worker.limits import TimeLimits, hard_message
from resqued.worker.options import size

KILL = "kill"  # SIGKILL the worker (a stuck one's job child group first)
KILL_JOB = "kill job"  # ask the worker to kill its job child (fork mode)
QUIT = "quit"  # the worker finishes its job, exits, and is replaced

FORK, IN_PROCESS, THREADS = "fork", "in process", "threads"


@dataclass(frozen=True)
class Rails:
    """What one worker process is held to (0: off)."""

    mode: str  # FORK, IN_PROCESS or THREADS
    memory_limit: int = 0
    memory_soft_limit: int = 0
    max_age: float = 0.0
    stuck_timeout: float = 0.0
    start_grace: float = 0.0  # how long a worker may take to beat the first time
    scoreboard: bool = True  # False: a worker_factory's worker, which writes none

    @property
    def measures_memory(self) -> bool:
        return bool(self.memory_limit or self.memory_soft_limit)


@dataclass(frozen=True)
class Reading:
    """One look at a worker process (``now``, ``started_at``: monotonic seconds)."""

    now: float
    started_at: float
    records: list[Record]
    supervisor: float = 0.0  # a threaded worker's supervising thread's heartbeat
    memory: int | None = None  # PSS of the worker and its job child, when measured


@dataclass(frozen=True)
class Action:
    kind: str  # KILL, KILL_JOB or QUIT
    reason: str  # why the worker was replaced: "stuck", "timed out", "memory hard", ...
    exception: str  # what a job it kills is recorded as ("" when none is killed)
    message: str  # the failure's message, and the log line


# What the listener did to a worker it told to finish its job and exit (a reload, a
# smaller table, its own stop): only the hard rules still apply to it.
RETIRING = Action(QUIT, "", "", "")


def judge(
    rails: Rails, reading: Reading, pending: Action | None = None, killed_child: int = 0
) -> Action | None:
    """What to do about this worker now; None when nothing (new) is to be done.

    ``pending``: what was already done to it (a worker being killed is left alone; one
    that is retiring may still be killed).  ``killed_child``: the job child the worker
    was already asked to kill.
    """
    if pending is not None and pending.kind == KILL:
        return None
    action = stuck(rails, reading) or timed_out(rails, reading) or memory_hard(rails, reading)
    if action is not None:
        if action.kind == KILL_JOB and child_of(reading) == killed_child:
            return None
        return action
    if pending is not None:
        return None
    return memory_soft(rails, reading) or too_old(rails, reading)


def stuck(rails: Rails, reading: Reading) -> Action | None:
    limit = rails.stuck_timeout
    if not limit or not rails.scoreboard:
        return None
    beats = [rec.heartbeat for rec in reading.records if not exempt(rails, rec)]
    if rails.mode == THREADS:
        beats.append(reading.supervisor)
    if not beats:
        return None
    first = max(limit, rails.start_grace)
    if any(not beat and reading.now - reading.started_at > first for beat in beats):
        silent = reading.now - reading.started_at  # never beat, past its grace
    else:
        silent = max((reading.now - beat for beat in beats if beat), default=0.0)
    if silent <= limit:
        return None
    return Action(
        KILL,
        "stuck",
        "resqued.WorkerStuck",
        f"worker stopped reporting: no heartbeat for {silent:.1f}s "
        f"(stuck_timeout {limit:g}s); it was killed",
    )


def exempt(rails: Rails, rec: Record) -> bool:
    """A record that cannot beat now: its thread runs a job in process, or it is stopping
    (no job: it unregisters, which waits on Redis as long as Redis takes)."""
    if rec.state == "stopping":
        return True
    return rails.mode != FORK and rec.state == "working"


def timed_out(rails: Rails, reading: Reading) -> Action | None:
    if rails.mode != IN_PROCESS or not rails.scoreboard or not reading.records:
        return None
    rec = reading.records[0]
    if rec.state != "working" or not rec.hard_limit or not rec.job_started:
        return None
    elapsed = reading.now - rec.job_started
    if elapsed < rec.hard_limit:
        return None
    message = hard_message(TimeLimits(rec.hard_limit), elapsed, "its worker process was killed")
    return Action(KILL, "timed out", "resqued.JobTimeout", message)


def timed_out_at_exit(rails: Rails, reading: Reading) -> Action | None:
    """A worker that died with a job past its hard limit, read at its reap: recorded as
    timed out, as the listener's own kill is.

    In process, it died by KILL: its own watchdog killed it (``worker/watchdog.py``).
    Threads: its process exited to end a thread's job it could not kill, and left the
    record to the listener (Redis refused it; ``worker/threads.py``).
    """
    if rails.mode == FORK or not rails.scoreboard:
        return None
    found = late(reading)
    if not found:
        return None
    if rails.mode == IN_PROCESS:
        what = "its worker process was killed by its watchdog"
    else:
        what = "it could not be interrupted; its worker process exited"
    limit = reading.records[min(found)].hard_limit
    message = hard_message(TimeLimits(limit), limit, what)
    return Action(KILL, "timed out", "resqued.JobTimeout", message)


def late(reading: Reading) -> set[int]:
    """The threads (record numbers) whose job is past its hard time limit."""
    return {
        n
        for n, rec in enumerate(reading.records)
        if rec.state == "working"
        and rec.hard_limit
        and rec.job_started
        and reading.now - rec.job_started >= rec.hard_limit
    }


def memory_hard(rails: Rails, reading: Reading) -> Action | None:
    limit, used = rails.memory_limit, reading.memory
    if not limit or used is None or used <= limit:
        return None
    what = f"{size(used)} (PSS), above the hard memory limit of {size(limit)}"
    if rails.mode == FORK and child_of(reading):
        return Action(
            KILL_JOB,
            "memory hard",
            "resqued.MemoryLimitExceeded",
            f"job killed: its worker and job child used {what}",
        )
    return Action(
        KILL,
        "memory hard",
        "resqued.MemoryLimitExceeded",
        f"job killed: its worker used {what}; the worker process was killed",
    )


def memory_soft(rails: Rails, reading: Reading) -> Action | None:
    limit, used = rails.memory_soft_limit, reading.memory
    if not limit or used is None or used <= limit:
        return None
    return Action(
        QUIT,
        "memory soft",
        "",
        f"uses {size(used)} (PSS), above the soft memory limit of {size(limit)}: "
        "it finishes its job and is replaced",
    )


def too_old(rails: Rails, reading: Reading) -> Action | None:
    age = reading.now - reading.started_at
    if not rails.max_age or age < rails.max_age:
        return None
    return Action(
        QUIT,
        "max age",
        "",
        f"is {age:.0f}s old (max_age {rails.max_age:g}s): it finishes its job and is replaced",
    )


def child_of(reading: Reading) -> int:
    """The job child of a fork-mode worker at work (0: none)."""
    records = reading.records
    if records and records[0].state == "working":
        return records[0].child_pid
    return 0


def next_deadline(rails: Rails, reading: Reading) -> float:
    """When a time-based rule may next apply (monotonic; 0.0: none is due)."""
    times = []
    if rails.max_age:
        times.append(reading.started_at + rails.max_age)
    if rails.mode == IN_PROCESS and rails.scoreboard and reading.records:
        rec = reading.records[0]
        if rec.state == "working" and rec.hard_limit and rec.job_started:
            times.append(rec.job_started + rec.hard_limit)
    return min(times, default=0.0)


def replacement_reason(pending: Action | None, exit_note: str, clean: bool, status: str) -> str:
    """Why a worker that exited went away: what the listener did, else what it said, else
    its exit status (``killed by SIGKILL``, ``exit status 1``, ``exited``)."""
    if pending is not None and pending.reason:
        return pending.reason
    if exit_note and clean:
        return exit_note
    return status
