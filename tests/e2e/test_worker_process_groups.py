"""Each job child leads a process group, ended with the job: nothing a job starts outlives it."""

from __future__ import annotations

import os
import signal

import pytest
from support.jobs import failures, push, strings, work
from support.procs import descendants, wait_for
from support.worker import quit_


def _spawned(r) -> list[int]:
    return [int(x.split(":")[1]) for x in strings(r, "spawned")]


def _stat(pid: int) -> tuple[bytes, int] | None:
    """(state, start time) of ``pid``, or None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rpartition(b")")[2].split()
    except OSError:
        return None
    return fields[0], int(fields[19])


def _snapshot(pids) -> dict[int, int]:
    """Each pid's start time now, so a pid reused later is not mistaken for it."""
    return {pid: stat[1] for pid in pids if (stat := _stat(pid)) is not None}


def _live(pid: int, started: int) -> bool:
    """The process that had ``pid`` at ``started`` still runs (a zombie does not count)."""
    stat = _stat(pid)
    return stat is not None and stat[1] == started and stat[0] != b"Z"


class Spawned:
    """The ``sleep 300`` processes jobs started, each known by pid and start time."""

    def __init__(self, r) -> None:
        self.r = r
        self.started: dict[int, int] = {}

    def __call__(self) -> list[int]:
        pids = _spawned(self.r)
        for pid in pids:
            stat = _stat(pid)
            if pid not in self.started and stat is not None and _is_sleep(pid):
                self.started[pid] = stat[1]
        return pids

    def running(self, pid: int) -> bool:
        """Still the same ``sleep 300`` (not a zombie, not a reused pid)."""
        return pid in self.started and _live(pid, self.started[pid]) and _is_sleep(pid)


def _is_sleep(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read() == b"sleep\x00300\x00"
    except OSError:
        return False


@pytest.fixture
def spawned(r):
    """The ``sleep 300`` pids jobs started; any left running are killed at the end."""
    found = Spawned(r)
    yield found
    found()
    for pid in found.started:
        if found.running(pid):
            os.kill(pid, signal.SIGKILL)


def test_what_a_job_started_ends_with_the_job(resqued, app_dir, r, spawned):
    w = work(resqued, app_dir, "-q", "default", lib="spawn_jobs")
    push(r, "default", "SpawnSleep", "a", 0)
    [grandchild] = wait_for(spawned, 15, "the job's sleep 300")
    wait_for(lambda: r.llen("finished") == 1, 10, "job done")
    wait_for(lambda: not spawned.running(grandchild), 10, "the sleep ended with its job")
    assert failures(r) == []
    quit_(w)


@pytest.mark.parametrize("sig", [signal.SIGUSR1, signal.SIGTERM])
def test_killing_a_job_kills_what_it_started(resqued, app_dir, r, spawned, sig):
    w = work(resqued, app_dir, "-q", "default", lib="spawn_jobs")
    push(r, "default", "SpawnSleep", "k", 60)
    [grandchild] = wait_for(spawned, 15, "the job's sleep 300")
    w.signal(sig)
    wait_for(lambda: r.llen("resque:failed") == 1, 10, "the job failed")
    wait_for(lambda: not spawned.running(grandchild), 10, "the sleep killed with its job")
    assert failures(r)[0]["exception"] == "Resque::DirtyExit"
    if sig == signal.SIGTERM:
        assert w.wait(20) == 0
    else:
        quit_(w)


@pytest.mark.parametrize("sig", [signal.SIGQUIT, signal.SIGTERM])
def test_stopping_the_whole_tree_leaves_no_process_behind(resqued, app_dir, r, spawned, sig):
    m = resqued("-n", "2", "-r", "spawn_jobs", "--interval", "1", cwd=app_dir)
    wait_for(lambda: r.scard("resque:workers") == 2, 20, "2 workers")
    push(r, "default", "SpawnSleep", "a", 2)
    push(r, "default", "SpawnSleep", "b", 2)
    wait_for(lambda: len(spawned()) == 2, 15, "both jobs' sleep 300")
    tree = _snapshot(p for p, _, _ in descendants(m.pid))
    assert set(spawned()) <= set(tree)  # started under the pool
    m.signal(sig)
    assert m.wait(30) == 0
    wait_for(lambda: not any(spawned.running(p) for p in spawned()), 10, "every sleep 300 gone")
    wait_for(lambda: not [p for p, t in tree.items() if _live(p, t)], 10, "no pool process left")
    if sig == signal.SIGQUIT:
        assert sorted(strings(r, "finished")) == ["a", "b"]


def test_a_job_child_and_what_it_started_die_with_a_killed_worker(resqued, app_dir, r, spawned):
    """A worker SIGKILLed mid-job: its job child (no time or memory limit without it) and
    the child's own processes end at once, the job is failed once, and QUIT leaves nothing."""
    m = resqued("-n", "1", "-r", "spawn_jobs", "--interval", "1", cwd=app_dir)
    wait_for(lambda: r.scard("resque:workers") == 1, 20, "a worker")
    push(r, "default", "SpawnSleep", "orphan", 60)
    [grandchild] = wait_for(spawned, 15, "the job's sleep 300")
    rows = descendants(m.pid)
    [child] = [p for p, _, t in rows if "Processing default" in t]
    worker = next(pp for p, pp, _ in rows if p == child)
    started = _snapshot([child, worker])
    os.kill(worker, signal.SIGKILL)
    wait_for(lambda: not _live(child, started[child]), 10, "the job child ended with its worker")
    wait_for(lambda: not spawned.running(grandchild), 10, "the job's own process ended too")
    wait_for(lambda: r.llen("resque:failed") == 1, 15, "the job failed")
    [failed] = failures(r)
    assert failed["exception"] == "Resque::DirtyExit"
    assert failed["payload"] == {"class": "SpawnSleep", "args": ["orphan", 60]}
    wait_for(lambda: r.scard("resque:workers") == 1, 20, "a new worker in the slot")
    m.signal(signal.SIGQUIT)
    assert m.wait(30) == 0
    assert strings(r, "finished") == [] and r.llen("resque:failed") == 1  # never ran on
