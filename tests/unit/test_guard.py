"""The listener's guard-rail decisions: which worker to kill or retire, and why."""

from __future__ import annotations

import signal

import pytest

from resqued.config.model import WorkerRow
from resqued.listener import guard as g
from resqued.listener import slots as s
from resqued.scoreboard import Record

MiB = 2**20


def rec(state="waiting", beat=100.0, started=0.0, hard=0.0, child=0) -> Record:
    return Record(beat, state, started, hard, child, 0, 0, "q", "Job")


def look(*records: Record, now=100.0, started_at=0.0, supervisor=0.0, memory=None) -> g.Reading:
    return g.Reading(now, started_at, list(records), supervisor, memory)


FORK = g.Rails(g.FORK, stuck_timeout=10)
IN_PROCESS = g.Rails(g.IN_PROCESS, stuck_timeout=10)
THREADS = g.Rails(g.THREADS, stuck_timeout=10)


def test_a_healthy_worker_is_left_alone():
    for rails in (FORK, IN_PROCESS, THREADS):
        assert g.judge(rails, look(rec(beat=95.0), supervisor=95.0)) is None


def test_a_worker_that_stopped_beating_is_killed_as_stuck():
    action = g.judge(FORK, look(rec(beat=80.0)))
    assert action is not None and (action.kind, action.reason) == (g.KILL, "stuck")
    assert action.exception == "resqued.WorkerStuck"
    assert "no heartbeat for 20.0s (stuck_timeout 10s)" in action.message
    # a fork-mode worker supervising its job child beats too: no exemption
    assert g.judge(FORK, look(rec("working", beat=80.0, started=70.0, child=42))).reason == "stuck"


def test_a_worker_that_never_beat_counts_from_its_start_with_a_grace():
    assert g.judge(FORK, look(rec("starting", beat=0.0), started_at=95.0)) is None
    assert g.judge(FORK, look(rec("starting", beat=0.0), started_at=85.0)).reason == "stuck"
    slow_import = g.Rails(g.FORK, stuck_timeout=10, start_grace=300)
    assert g.judge(slow_import, look(rec("starting", beat=0.0), started_at=-150.0)) is None
    action = g.judge(slow_import, look(rec("starting", beat=0.0), started_at=-250.0))
    assert action.reason == "stuck" and "no heartbeat for 350.0s" in action.message
    # once it has beaten, the stuck timeout applies
    assert g.judge(slow_import, look(rec(beat=80.0), started_at=-250.0)).reason == "stuck"


def test_a_job_in_process_cannot_beat_and_is_exempt():
    working = rec("working", beat=10.0, started=10.0)
    assert g.judge(IN_PROCESS, look(working)) is None
    # threads: a thread at work or finished is exempt, the supervising thread is not
    stopping = rec("stopping", beat=10.0)
    assert g.judge(THREADS, look(working, stopping, supervisor=99.0)) is None
    assert g.judge(THREADS, look(working, stopping, supervisor=50.0)).reason == "stuck"
    assert g.judge(THREADS, look(working, rec(beat=50.0), supervisor=99.0)).reason == "stuck"


def test_a_worker_slow_to_unregister_is_never_stuck():
    # stopping: no job left, it unregisters, which waits on Redis as long as Redis takes
    for rails in (FORK, IN_PROCESS):
        assert g.judge(rails, look(rec("stopping", beat=1.0), now=10_000.0)) is None
        assert g.judge(rails, look(rec("waiting", beat=1.0), now=10_000.0)).reason == "stuck"


def test_stuck_detection_can_be_off():
    assert g.judge(g.Rails(g.FORK), look(rec(beat=1.0))) is None
    assert g.judge(g.Rails(g.FORK, stuck_timeout=10, scoreboard=False), look()) is None


def test_an_in_process_job_past_its_hard_limit_kills_the_worker():
    job = rec("working", beat=40.0, started=70.0, hard=30.0)
    action = g.judge(IN_PROCESS, look(job, now=100.5))
    assert (action.kind, action.reason, action.exception) == (
        g.KILL,
        "timed out",
        "resqued.JobTimeout",
    )
    assert action.message.startswith("job timed out after 30.5s (hard time limit 30s)")
    assert g.judge(IN_PROCESS, look(job, now=99.0)) is None  # not yet
    # fork mode: the worker kills its child itself; threads: the process handles it
    assert g.judge(g.Rails(g.FORK), look(job, now=100.5)) is None
    assert g.judge(g.Rails(g.THREADS), look(job, now=100.5, supervisor=100.0)) is None


def test_an_in_process_worker_its_watchdog_killed_is_recorded_as_timed_out():
    """Read at its reap (maybe long after, when the listener was blocked): the job had
    passed its hard limit, so the KILL was its watchdog's, at the limit."""
    job = rec("working", beat=40.0, started=70.0, hard=30.0)
    action = g.timed_out_at_exit(IN_PROCESS, look(job, now=105.8))
    assert (action.kind, action.reason, action.exception) == (
        g.KILL,
        "timed out",
        "resqued.JobTimeout",
    )
    assert action.message == (
        "job timed out after 30.0s (hard time limit 30s); "
        "its worker process was killed by its watchdog"
    )
    assert g.timed_out_at_exit(IN_PROCESS, look(job, now=99.0)) is None  # killed before: not so
    assert g.timed_out_at_exit(IN_PROCESS, look(rec("waiting"), now=105.8)) is None
    assert g.timed_out_at_exit(g.Rails(g.FORK), look(job, now=105.8)) is None
    assert g.late(
        look(rec("waiting"), job, rec("working", started=99.0, hard=30.0), now=105.8)
    ) == {1}
    # threads: the process exited to end the late thread's job, and left the record to us
    action = g.timed_out_at_exit(THREADS, look(rec("waiting"), job, now=105.8))
    assert action.exception == "resqued.JobTimeout"
    assert action.message.endswith("it could not be interrupted; its worker process exited")


def test_hard_memory_kills_the_job_child_or_the_worker():
    rails = g.Rails(g.FORK, memory_limit=100 * MiB)
    busy = rec("working", started=90.0, child=4242)
    action = g.judge(rails, look(busy, memory=150 * MiB))
    assert (action.kind, action.reason) == (g.KILL_JOB, "memory hard")
    assert action.exception == "resqued.MemoryLimitExceeded"
    assert "150MiB (PSS), above the hard memory limit of 100MiB" in action.message
    # asked already for this child: not again; a later child is another job
    assert g.judge(rails, look(busy, memory=150 * MiB), killed_child=4242) is None
    assert g.judge(rails, look(busy, memory=150 * MiB), killed_child=4000).kind == g.KILL_JOB
    # no job child (the worker itself grew), or a mode where the job runs in the worker
    assert g.judge(rails, look(rec(), memory=150 * MiB)).kind == g.KILL
    in_process = g.Rails(g.IN_PROCESS, memory_limit=100 * MiB)
    assert g.judge(in_process, look(busy, memory=150 * MiB)).kind == g.KILL
    assert g.judge(rails, look(busy, memory=90 * MiB)) is None


def test_soft_memory_and_max_age_retire_once():
    rails = g.Rails(g.FORK, memory_soft_limit=100 * MiB, max_age=60.0)
    action = g.judge(rails, look(rec(), memory=120 * MiB, started_at=90.0))
    assert (action.kind, action.reason, action.exception) == (g.QUIT, "memory soft", "")
    assert g.judge(rails, look(rec(), memory=120 * MiB), pending=action) is None
    old = g.judge(rails, look(rec(), memory=50 * MiB, started_at=30.0))
    assert (old.kind, old.reason) == (g.QUIT, "max age")
    assert "is 70s old (max_age 60s)" in old.message
    # a worker the listener is retiring anyway (reload, its own stop): no soft action
    assert g.judge(rails, look(rec(), memory=120 * MiB), pending=g.RETIRING) is None


def test_hard_rules_still_apply_to_a_retiring_worker_but_not_twice_to_a_killed_one():
    rails = g.Rails(g.IN_PROCESS, memory_limit=100 * MiB, memory_soft_limit=50 * MiB)
    retiring = g.Action(g.QUIT, "memory soft", "", "")
    kill = g.judge(rails, look(rec(), memory=150 * MiB), pending=retiring)
    assert kill is not None and kill.kind == g.KILL
    assert g.judge(rails, look(rec(), memory=150 * MiB), pending=kill) is None


def test_stuck_comes_before_memory():
    rails = g.Rails(g.FORK, memory_limit=100 * MiB, stuck_timeout=10)
    assert g.judge(rails, look(rec(beat=50.0), memory=150 * MiB)).reason == "stuck"


def test_next_deadline():
    rails = g.Rails(g.IN_PROCESS, max_age=60.0)
    assert g.next_deadline(rails, look(rec(), started_at=10.0)) == 70.0
    job = rec("working", started=20.0, hard=30.0)
    assert g.next_deadline(rails, look(job, started_at=10.0)) == 50.0
    assert g.next_deadline(g.Rails(g.FORK), look(job)) == 0.0


@pytest.mark.parametrize(
    ("pending", "note", "status", "reason"),
    [
        (g.Action(g.KILL, "timed out", "x", "m"), "", signal.SIGKILL, "timed out"),
        (None, "recycled after 5 jobs", 0, "recycled after 5 jobs"),
        (None, "recycled after 5 jobs", 1 << 8, "exit status 1"),  # it said so, then crashed
        (g.RETIRING, "", 0, "exited"),
        (g.RETIRING, "", signal.SIGKILL, "killed by SIGKILL"),
        (None, "", signal.SIGKILL, "killed by SIGKILL"),
    ],
)
def test_replacement_reasons(pending, note, status, reason):
    assert (
        g.replacement_reason(pending, note, s.clean_exit(status), s.exit_reason(status)) == reason
    )


def test_a_worker_killed_on_purpose_is_replaced_at_once():
    slot = s.Slot(0, WorkerRow(("a",)))
    slot.started(100, 0.0)
    slot.pending = g.Action(g.KILL, "timed out", "resqued.JobTimeout", "m")
    assert slot.exited(signal.SIGKILL, 1.0, stopping=False) == 0.0  # an early death, no backoff
    assert slot.last_reason == "timed out" and slot.pending is None
    slot.started(101, 2.0)
    assert slot.exited(signal.SIGKILL, 3.0, stopping=False) > 0  # killed from outside: backoff
    assert slot.last_reason == "killed by SIGKILL"
