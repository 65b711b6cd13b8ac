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


def _live(pid: int) -> bool:
    """``pid`` exists and is not a zombie (init reaps those in its own time)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rpartition(b")")[2].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def _running(pid: int) -> bool:
    """``pid`` is still the ``sleep 300`` a job started (not a zombie, not a reused pid)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rpartition(b")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return cmdline == b"sleep\x00300\x00" and state != b"Z"


@pytest.fixture
def spawned(r):
    """The ``sleep 300`` pids jobs started; any left running are killed at the end."""
    yield lambda: _spawned(r)
    for pid in _spawned(r):
        if _running(pid):
            os.kill(pid, signal.SIGKILL)


def test_what_a_job_started_ends_with_the_job(resqued, app_dir, r, spawned):
    w = work(resqued, app_dir, "-q", "default", lib="spawn_jobs")
    push(r, "default", "SpawnSleep", "a", 0)
    [grandchild] = wait_for(spawned, 15, "the job's sleep 300")
    wait_for(lambda: r.llen("finished") == 1, 10, "job done")
    wait_for(lambda: not _running(grandchild), 10, "the sleep ended with its job")
    assert failures(r) == []
    quit_(w)


@pytest.mark.parametrize("sig", [signal.SIGUSR1, signal.SIGTERM])
def test_killing_a_job_kills_what_it_started(resqued, app_dir, r, spawned, sig):
    w = work(resqued, app_dir, "-q", "default", lib="spawn_jobs")
    push(r, "default", "SpawnSleep", "k", 60)
    [grandchild] = wait_for(spawned, 15, "the job's sleep 300")
    w.signal(sig)
    wait_for(lambda: r.llen("resque:failed") == 1, 10, "the job failed")
    wait_for(lambda: not _running(grandchild), 10, "the sleep killed with its job")
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
    tree = {p for p, _, _ in descendants(m.pid)}
    assert set(spawned()) <= tree  # started under the pool
    m.signal(sig)
    assert m.wait(30) == 0
    wait_for(lambda: not any(_running(p) for p in spawned()), 10, "every sleep 300 gone")
    wait_for(lambda: not [p for p in tree if _live(p)], 10, "no process of the pool left")
    if sig == signal.SIGQUIT:
        assert sorted(strings(r, "finished")) == ["a", "b"]
