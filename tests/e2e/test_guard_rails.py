"""Guard rails end to end, in fork, in-process and thread modes, under the real master.

Time limits (soft: an exception the job can clean up after; hard: the process
running the job is killed), memory limits, recycling after N jobs, max age,
and stuck workers.  Every wait has a deadline; nothing is timed.
"""

from __future__ import annotations

import os
import signal

import pytest
from support.jobs import PREFIX, failures, push, strings
from support.procs import descendants, titles, wait_for
from support.worker import events

from resqued.fleet import read_fleet
from resqued.resque.store import Store

MODES = {"fork": [], "in process": ["--no-fork"], "threads": ["--threads", "2"]}
mode_names = pytest.mark.parametrize("mode", list(MODES))


def start(resqued, app_dir, r, mode: str, *flags: str):
    """One worker process (two threads in thread mode), idle, with these guard rails."""
    m = resqued("-n", "1", "-r", "limit_jobs", "--interval", "1", *MODES[mode], *flags, cwd=app_dir)
    threads = 2 if mode == "threads" else 1
    wait_for(lambda: r.scard("resque:workers") == threads, 20, "workers registered")
    wait_for(lambda: len(workers(m.pid)) == 1, 10, "one worker process")
    return m


def workers(master: int) -> list[int]:
    """Worker processes (not job children) under ``master``."""
    rows = descendants(master)
    listeners = {p for p, _, t in rows if " listener #" in t}
    return [p for p, pp, t in rows if pp in listeners and t.startswith(PREFIX)]


def worker_of(r, key: str, mode: str) -> int:
    """The worker process that ran the ``WhoRuns`` job ``key``."""
    for entry in strings(r, "pids"):
        k, pid, parent = entry.split(":")
        if k == key:
            return int(parent if mode == "fork" else pid)
    raise AssertionError(f"{key} did not run")


def replacements(redis_url: str) -> dict[str, int]:
    masters = read_fleet(Store.connect(redis_url)).masters
    return dict(masters[0].replacements) if masters else {}


def ran(r, key: str) -> bool:
    return any(e.startswith(f"{key}:") for e in strings(r, "pids"))


def lines(m, text: str) -> list[str]:
    return [line for line in m.output().splitlines() if text in line]


@mode_names
def test_time_limits_soft_then_hard(resqued, app_dir, r, redis_url, mode):
    m = start(resqued, app_dir, r, mode, "--job-timeout", "2", "--job-soft-timeout", "1")
    assert any("[timeout 2s (soft 1s)]" in t for t in titles(m.pid)), titles(m.pid)
    before = workers(m.pid)
    # Soft: SoftTimeout inside the job, which cleans up and returns (a success).
    push(r, "default", "Patient", "p", 30)
    wait_for(lambda: events(r, "cleanup:p"), 15, "the job cleaned up")
    assert events(r, "soft:p") and not failures(r)
    # The class's own limits win: Report sets soft_timeout=1, timeout=30.
    push(r, "default", "Report", "c", 30)
    wait_for(lambda: events(r, "cleanup:c"), 15, "the class's soft limit")
    assert events(r, "soft:c") and not failures(r)
    # Hard: a job that ignores SoftTimeout is killed at 2 s and recorded as timed out.
    push(r, "default", "Stubborn", "s")
    wait_for(lambda: failures(r), 15, "the timed-out job in failed")
    [failed] = failures(r)
    assert failed["exception"] == "resqued.JobTimeout"
    assert failed["payload"] == {"class": "Stubborn", "args": ["s"]}
    assert "timed out after" in failed["error"] and "hard time limit 2s" in failed["error"]
    assert events(r, "soft:s")  # it was told first
    wait_for(lambda: events(r, "on_failure:s:JobTimeout"), 10, "its on_failure hook")
    push(r, "default", "WhoRuns", "next")
    wait_for(lambda: ran(r, "next"), 10, "the next job on the queue")
    assert not lines(m, "restarts in")  # no crash backoff: the slot worked again at once
    if mode == "fork":  # the worker killed its job child and went on
        assert workers(m.pid) == before and worker_of(r, "next", mode) == before[0]
    else:  # the process running the job was killed and replaced
        assert worker_of(r, "next", mode) not in before
        wait_for(lambda: replacements(redis_url) == {"timed out": 1}, 10, "reason counted")
    m.signal(signal.SIGQUIT)
    assert m.wait(30) == 0


@mode_names
def test_memory_soft_limit_replaces_the_worker_once_after_its_job(
    resqued, app_dir, r, redis_url, mode
):
    m = start(resqued, app_dir, r, mode, "--memory-soft-limit", "120MiB")
    [first] = workers(m.pid)
    push(r, "default", "Allocate", "big", 250)
    wait_for(lambda: lines(m, "memory soft"), 20, "the soft limit seen")
    assert workers(m.pid) == [first]  # it finishes its job first
    r.set("release:big", 1)
    wait_for(lambda: events(r, "done:big"), 15, "the job finished")
    wait_for(lambda: workers(m.pid) and workers(m.pid) != [first], 15, "a replacement")
    push(r, "default", "WhoRuns", "after")
    wait_for(lambda: ran(r, "after"), 15, "a job on the new worker")
    assert worker_of(r, "after", mode) != first
    assert not failures(r)
    assert len(lines(m, "memory soft")) == 1
    wait_for(lambda: replacements(redis_url) == {"memory soft": 1}, 10, "reason counted")
    m.signal(signal.SIGQUIT)
    assert m.wait(30) == 0


@mode_names
def test_memory_hard_limit_kills_the_job(resqued, app_dir, r, redis_url, mode):
    m = start(resqued, app_dir, r, mode, "--memory-limit", "150MiB")
    push(r, "default", "Allocate", "huge", 300)
    wait_for(lambda: failures(r), 20, "the job killed")
    [failed] = failures(r)
    assert failed["exception"] == "resqued.MemoryLimitExceeded"
    assert failed["payload"] == {"class": "Allocate", "args": ["huge", 300]}
    assert "above the hard memory limit of 150MiB" in failed["error"]
    wait_for(lambda: events(r, "on_failure:huge:MemoryLimitExceeded"), 10, "on_failure hook")
    assert not events(r, "done:huge")
    push(r, "default", "WhoRuns", "after")
    wait_for(lambda: ran(r, "after"), 15, "the next job")
    m.signal(signal.SIGQUIT)
    assert m.wait(30) == 0


@mode_names
def test_recycling_after_n_jobs_counts_per_process(resqued, app_dir, r, redis_url, mode):
    m = start(resqued, app_dir, r, mode, "--jobs-per-fork", "3")
    for n in range(9):
        push(r, "default", "WhoRuns", f"j{n}")
    wait_for(lambda: r.llen("pids") == 9, 30, "every job ran")
    by_worker: dict[int, int] = {}
    for n in range(9):
        pid = worker_of(r, f"j{n}", mode)
        by_worker[pid] = by_worker.get(pid, 0) + 1
    assert sorted(by_worker.values()) == [3, 3, 3], by_worker  # a new process every 3 jobs
    assert not failures(r) and r.llen("resque:queue:default") == 0
    wait_for(lambda: replacements(redis_url).get("recycled after 3 jobs", 0) >= 2, 10, "reasons")
    m.signal(signal.SIGQUIT)
    assert m.wait(30) == 0


@mode_names
def test_a_frozen_worker_is_killed_and_replaced(resqued, app_dir, r, redis_url, mode):
    m = start(resqued, app_dir, r, mode, "--stuck-timeout", "3")
    [frozen] = workers(m.pid)
    os.kill(frozen, signal.SIGSTOP)
    wait_for(lambda: workers(m.pid) and frozen not in workers(m.pid), 20, "a replacement")
    assert lines(m, f"worker {frozen} (*): stuck: worker stopped reporting")
    wait_for(lambda: replacements(redis_url) == {"stuck": 1}, 10, "reason counted")
    push(r, "default", "WhoRuns", "after")
    wait_for(lambda: ran(r, "after"), 15, "jobs run again")
    m.signal(signal.SIGQUIT)
    assert m.wait(30) == 0


def test_a_frozen_fork_worker_fails_its_job_and_ends_its_child(resqued, app_dir, r, redis_url):
    m = start(resqued, app_dir, r, "fork", "--stuck-timeout", "3")
    [frozen] = workers(m.pid)
    push(r, "default", "Patient", "long", 120)
    wait_for(lambda: events(r, "started:long"), 15, "the job running")
    child = next(p for p, pp, _ in descendants(m.pid) if pp == frozen)
    os.kill(frozen, signal.SIGSTOP)
    wait_for(lambda: failures(r), 20, "the job failed")
    [failed] = failures(r)
    assert failed["exception"] == "resqued.WorkerStuck"
    assert "stopped reporting" in failed["error"]
    wait_for(lambda: not os.path.exists(f"/proc/{child}"), 10, "the job child ended")
    assert not events(r, "cleanup:long")  # killed, not finished
    m.signal(signal.SIGQUIT)
    assert m.wait(30) == 0


def test_max_age_replaces_a_worker_after_its_job(resqued, app_dir, r, redis_url):
    m = start(resqued, app_dir, r, "fork", "--max-age", "3")
    assert any("[max age 3s]" in t for t in titles(m.pid))
    [first] = workers(m.pid)
    push(r, "default", "Patient", "job", 4)
    wait_for(lambda: workers(m.pid) and first not in workers(m.pid), 20, "a replacement")
    assert events(r, "done:job") and not failures(r)  # it finished its job first
    wait_for(lambda: replacements(redis_url).get("max age", 0) >= 1, 10, "reason counted")
    m.signal(signal.SIGQUIT)
    assert m.wait(30) == 0


def test_a_thread_past_its_hard_limit_lets_the_other_threads_finish(resqued, app_dir, r, redis_url):
    m = start(resqued, app_dir, r, "threads", "--job-timeout", "2", "--job-soft-timeout", "1")
    [first] = workers(m.pid)
    push(r, "default", "Steady", "other", 8)  # no limit of its own: runs on
    wait_for(lambda: events(r, "started:other"), 15, "the other job running")
    push(r, "default", "Stubborn", "s")
    wait_for(lambda: lines(m, "ran past its hard time limit"), 15, "the hard limit passed")
    assert not events(r, "done:other")  # still running: not lost, not failed
    wait_for(lambda: workers(m.pid) and first not in workers(m.pid), 20, "a fresh process")
    assert events(r, "done:other")  # it finished before its process exited
    [failed] = failures(r)
    assert failed["exception"] == "resqued.JobTimeout" and failed["payload"]["class"] == "Stubborn"
    assert "it could not be interrupted; its worker process exited" in failed["error"]
    wait_for(lambda: replacements(redis_url) == {"timed out": 1}, 10, "reason counted")
    m.signal(signal.SIGQUIT)
    assert m.wait(30) == 0


@mode_names
def test_the_hard_memory_limit_holds_after_the_listener_is_killed(resqued, app_dir, r, mode):
    """A listener SIGKILLed mid-job: its workers finish their jobs on their own (QUIT, the
    parent-death signal), and a job above the hard memory limit is still killed for it."""
    m = start(resqued, app_dir, r, mode, "--memory-limit", "150MiB")
    [listener] = [p for p, _, t in descendants(m.pid) if " listener #" in t]
    os.kill(listener, signal.SIGSTOP)  # it measures nothing from now on
    push(r, "default", "Allocate", "hog", 300)
    wait_for(lambda: events(r, "allocated:hog"), 20, "the job above the limit")
    os.kill(listener, signal.SIGKILL)  # its worker gets QUIT: it would finish the job
    wait_for(lambda: failures(r), 20, "the job killed above the limit")
    [failed] = failures(r)
    assert failed["exception"] == "resqued.MemoryLimitExceeded"
    assert failed["payload"] == {"class": "Allocate", "args": ["hog", 300]}
    assert "above the hard memory limit of 150MiB" in failed["error"]
    wait_for(lambda: events(r, "on_failure:hog:MemoryLimitExceeded"), 10, "on_failure hook")
    r.set("release:hog", 1)
    assert not events(r, "done:hog")
    m.signal(signal.SIGQUIT)
    assert m.wait(30) == 0
