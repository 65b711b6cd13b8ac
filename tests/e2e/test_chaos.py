"""The fault matrix (``pytest -m chaos``): every fault of issue 23, in every execution mode.

Each scenario runs one ``resqued`` (3 worker processes) in one mode (fork per
job; in process with ``jobs_per_fork``; threads) against a Redis of its own,
pushes a mix of jobs while its faults land (mostly jobs that complete; some
that raise, some that outlive their 2-s hard limit, some that go above the
100 MiB memory limit), lets the queue drain, stops with QUIT and sorts every
job (tests/support/chaos.py): completed once, twice, failed with its own
reason, with a reason the faults explain (a kill), with a wrong one, completed
past its limit, still queued, left with a dead worker, or lost.  The workers
alive are counted in /proc all along.  The table of every scenario is printed
at the end (tests/conftest.py), and written to ``chaos-table.md`` in the
``--basetemp`` directory when one is given.

| fault | what is done |
|---|---|
| kills | SIGKILL of workers, of busy processes (the job child, or the worker in process), a listener, the master, the whole tree (with restarts); HUP x2; USR2 |
| guard | more jobs past their time and memory limits; a worker SIGSTOPped (stuck) |
| sigstop | the master SIGSTOPped 4 s; the listener 8 s while jobs with a 2-s limit run (no memory hogs: the listener measures memory) |
| redis-restart | Redis SIGKILLed while jobs with limits run, down 3 s, restarted (AOF, nothing acknowledged lost) |
| redis-pause | ``CLIENT PAUSE`` ALL 4 s, WRITE 3 s, ``DEBUG SLEEP`` 3 s, each while jobs with limits run |
| redis-full | ``maxmemory`` 1 with ``noeviction`` for 6 s: every write refused |
| sentinel | the primary killed under load; the Sentinels promote the replica |
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.chaos import (
    DIRTY,
    ROWS,
    Counts,
    Mix,
    Row,
    limbo,
    table,
)
from support.chaos_redis import Durable, Failover, hold
from support.chaos_run import Run, drained, settles, tally_when_up
from support.procs import Proc, wait_for
from support.worker_count import Peak

from resqued.process.proc import alive

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(480)]

WORKERS = 3
LEAST = int(os.environ.get("CHAOS_JOBS", "2000"))  # jobs pushed at least, however quick the faults
DRAIN = 150.0
MODES = {
    "fork": "",
    "inproc": "fork_per_job(False)\njobs_per_fork(100)\n",
    "threads": "threads(3)\njobs_per_fork(150)\n",
}
CONF = """\
worker_processes({workers})
queue("chaos")
interval(0.5)
job_timeout(8)
memory_limit("100MiB")
stuck_timeout(8)
prune_interval(5)
shutdown_timeout(20)
{mode}"""
GUARD = {"resqued.WorkerStuck", "resqued.JobTimeout", "resqued.MemoryLimitExceeded"}
# Threads: a memory kill ends the process, and every job it ran is recorded with that reason.
MODE_CHAOS = {"threads": {"resqued.MemoryLimitExceeded"}}


def kills(run: Run) -> None:
    rnd = random.Random(7)
    run.at(100)
    for step in range(2):
        run.hit(rnd.choice(run.workers()), signal.SIGKILL, "worker SIGKILL")
        run.later(80)
        busy = run.job_children()  # in process: the busy workers themselves
        if busy:
            run.hit(rnd.choice(busy), signal.SIGKILL, "busy process SIGKILL")
        run.hit(run.master.pid, signal.SIGHUP, "HUP")
        wait_for(lambda s=step: run.master.output().count("is ready") >= 2 + s, 60, "reload")
        run.later(80)
    run.hit(run.master.pid, signal.SIGUSR2, "USR2")
    wait_for(lambda: "took over" in run.master.output(), 60, "the re-exec")
    run.later(80)
    run.hit(run.listeners()[0], signal.SIGKILL, "listener SIGKILL")
    wait_for(lambda: len(run.workers()) == WORKERS, 60, "a new listener's workers")
    run.later(80)
    run.kill_tree(everything=True)
    run.faults.append("whole tree SIGKILL + restart")
    run.later(80)
    run.kill_tree(everything=False)
    run.faults.append("master SIGKILL + restart")
    run.later(80)


def guard(run: Run) -> None:
    run.at(100)
    victim = random.Random(7).choice(run.workers())
    run.hit(victim, signal.SIGSTOP, "worker SIGSTOP")
    wait_for(lambda: not alive(victim), 60, "the stopped worker to be killed")
    run.later(100)


def sigstop(run: Run) -> None:
    run.at(100)
    run.hit(run.master.pid, signal.SIGSTOP, "master SIGSTOP 4 s")
    hold(4)
    run.master.signal(signal.SIGCONT)
    run.later(100)
    run.limits_running(hog=False)  # memory is measured by the listener: not while it is stopped
    listeners = run.listeners()
    for li in listeners:
        run.hit(li, signal.SIGSTOP, "listener SIGSTOP 8 s")
    hold(8)
    for li in listeners:
        os.kill(li, signal.SIGCONT)
    run.later(100)


def redis_restart(run: Run) -> None:
    run.at(150)
    run.limits_running()
    run.backend.restart(down=3)
    run.faults.append("Redis SIGKILL, 3 s down, restart")
    run.later(150)


def redis_pause(run: Run) -> None:
    run.at(150)
    for what, fault in (
        ("CLIENT PAUSE ALL 4 s", lambda: run.backend.pause(4, "ALL")),
        ("CLIENT PAUSE WRITE 3 s", lambda: run.backend.pause(3, "WRITE")),
        ("DEBUG SLEEP 3 s", lambda: run.backend.sleep(3)),
    ):
        run.limits_running()
        fault()
        run.faults.append(what)
        run.later(100)


def redis_full(run: Run) -> None:
    run.at(150)
    run.limits_running()
    run.backend.full(6)
    run.faults.append("maxmemory 1 + noeviction, 6 s")
    run.later(150)


def sentinel(run: Run) -> None:
    run.at(150)
    run.limits_running()
    run.backend.promote()
    run.faults.append("primary killed, replica promoted")
    run.later(150)


@dataclass(frozen=True)
class Scenario:
    name: str
    fault: Callable[[Run], None]
    chaos: frozenset[str] = frozenset()  # failure reasons its faults explain
    slow: int = 300  # every slow-th job is a ChaosSlow
    hog: int = 900  # every hog-th a ChaosHog (0: none)
    sentinel: bool = False


SCENARIOS = [
    Scenario("kills", kills, frozenset(DIRTY)),
    Scenario("guard", guard, frozenset(GUARD), slow=150, hog=400),
    Scenario("sigstop", sigstop, hog=0),
    Scenario("redis-restart", redis_restart),
    Scenario("redis-pause", redis_pause),
    Scenario("redis-full", redis_full),
    Scenario("sentinel", sentinel, sentinel=True),
]
CASES = [(s, mode) for s in SCENARIOS for mode in MODES]


@pytest.fixture
def matrix(request) -> list[Row]:
    """The rows of every scenario run; tests/conftest.py prints the table at the end."""
    return request.config.stash.setdefault(ROWS, [])


@pytest.mark.parametrize("scenario, mode", CASES, ids=[f"{s.name}-{m}" for s, m in CASES])
def test_chaos(scenario: Scenario, mode: str, resqued, app_dir: Path, tmp_path: Path, matrix):
    began = time.monotonic()
    backend = Failover(tmp_path / "redis") if scenario.sentinel else Durable(tmp_path / "redis")
    backend.start()
    try:
        row, fault_error, run = play(scenario, mode, backend, resqued, app_dir, tmp_path)
    finally:
        backend.stop()
    row.seconds = time.monotonic() - began
    matrix.append(row)
    print(f"\n{row.scenario}: {', '.join(run.faults)}\n{table([row])}")
    c: Counts = row.counts
    problems = {
        "lost": c.lost, "twice": c.twice, "limbo": c.limbo, "queued": c.queued,
        "failed with a wrong reason": dict(c.wrong) if c.failed_wrong else 0,
        "completed past their limit": c.past_limit,
        "peak over N": row.peak if row.peak > WORKERS else 0,
        "fault step": str(fault_error or ""), "producer": str(run.producer.error or ""),
        "notes": row.notes,
    }  # fmt: skip
    assert not {k: v for k, v in problems.items() if v}, problems
    assert c.failed_own > 0, "no failing job was recorded with its own reason"


def play(scenario: Scenario, mode: str, backend, resqued, app_dir: Path, tmp_path: Path):
    """Run the scenario and tally it: (its row, the fault step's error if any, the run)."""
    record = tmp_path / "record.txt"
    conf = app_dir / "conf.py"
    conf.write_text(CONF.format(workers=WORKERS, mode=MODES[mode]))
    env = {"CHAOS_RECORD": str(record), "REDIS_URL": backend.url}
    pid_path = tmp_path / "chaos.pid"

    def start() -> Proc:
        args = ("-c", str(conf), "-r", "chaos_jobs", "-p", str(pid_path), "--redis", backend.url)
        return resqued(*args, cwd=app_dir, env=env)

    mix = Mix(scenario.slow, scenario.hog)
    peak = Peak([], WORKERS, every=0.01)
    run = Run(backend, mix, record, start, peak, LEAST)
    peak.start()
    run.producer.start()
    notes: list[str] = []
    fault_error: Exception | None = None
    try:
        scenario.fault(run)
    except Exception as exc:  # the row is still written, then the test fails
        fault_error = exc
        notes.append(f"fault step failed: {exc}")
    run.producer.finish()
    if not settles(lambda: drained(backend.reader(), run.producer), DRAIN):
        notes.append(f"not drained after {DRAIN:.0f} s")
    settles(lambda: not limbo(backend.reader()), 15)  # the listener prunes every 5 s
    peak.stop()
    run.master.signal(signal.SIGQUIT)
    try:
        code = run.master.wait(60)
    except subprocess.TimeoutExpired:  # a master that does not stop: a finding, in the row
        code = -1
    if code != 0:
        notes.append(f"QUIT: exit {code}")
    notes += [f"over N at {over}" for over in peak.overs[:2]]
    tracebacks = sum(m.output().count("Traceback") for m in run.masters)
    if tracebacks:
        notes.append(f"{tracebacks} tracebacks logged")
    chaos = scenario.chaos | MODE_CHAOS.get(mode, set())
    counts = tally_when_up(backend, record, mix, chaos)
    return Row(f"{scenario.name}-{mode}", counts, peak.peak, WORKERS, 0.0, notes), fault_error, run
