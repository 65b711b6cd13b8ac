"""The worker's scoreboard: what a forked worker writes, its parent reads, without system calls."""

from __future__ import annotations

import os
import time

import pytest

from resqued import scoreboard
from resqued.scoreboard import BUCKETS, Scoreboard


def test_a_forked_worker_writes_and_its_parent_reads():
    board = Scoreboard(threads=2)
    pid = os.fork()
    if pid == 0:  # the worker
        try:
            board.beat(0, "waiting")
            board.job_started("high", "Archive", hard_limit=30.0, thread=1)
            board.job_child(4242, thread=1)
            board.job_started("low", "Mail", thread=0)
            board.job_finished(ok=False, thread=0)
            board.publish()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    idle, busy = board.records()
    assert (idle.state, idle.done, idle.failed, idle.job_started) == ("waiting", 1, 1, 0.0)
    assert busy.state == "working" and busy.child_pid == 4242 and busy.hard_limit == 30.0
    assert (busy.queue, busy.class_name) == ("high", "Archive")
    assert 0 < time.monotonic() - busy.job_started < 60
    [row] = board.read_stats()  # read after the worker exited: counts survive it
    assert row[:4] == ["low", "Mail", 1, 1]
    assert len(row) == 5 + len(BUCKETS) and row[5] == 1  # a fast job: the first bucket
    assert board.read_stats() is None  # nothing new since


def test_statistics_are_cumulative_with_cumulative_buckets():
    board = Scoreboard()
    for seconds in (0.03, 0.2, 480.0):
        board.count("q", "Job", True, seconds)
    board.publish()
    [row] = board.read_stats()
    queue, cls, jobs, failed, seconds, *buckets = row
    assert (jobs, failed) == (3, 0) and seconds == pytest.approx(0.03 + 0.2 + 480.0)
    assert buckets[BUCKETS.index(0.05)] == 1  # 0.03 s
    assert buckets[BUCKETS.index(0.25)] == 2  # and 0.2 s
    assert buckets[-1] == 2  # 480 s is past the last bucket (+Inf is the job count)


def test_series_are_bounded(monkeypatch):
    monkeypatch.setattr(scoreboard, "MAX_SERIES", 3)
    board = Scoreboard()
    for n in range(10):
        board.job_started("q", f"Job{n}")
        board.job_finished(ok=True)
    board.publish()
    rows = board.read_stats()
    assert len(rows) == 4 and {r[1] for r in rows} == {"Job0", "Job1", "Job2", "other"}
    assert sum(r[2] for r in rows) == 10


def test_long_names_are_cut_and_threads_are_bounded():
    board = Scoreboard()
    board.job_started("q" * 200, "é" * 100)
    rec = board.read()
    assert len(rec.queue) == scoreboard.NAME and rec.class_name.startswith("é")
    with pytest.raises(ValueError):
        Scoreboard(threads=0)


def test_the_header_carries_the_supervisor_the_exit_note_and_kill_requests():
    board = Scoreboard(threads=2)
    assert board.supervisor() == 0.0 and board.exit_note() == "" and board.kill_request() is None
    pid = os.fork()
    if pid == 0:  # the worker
        try:
            board.supervisor_beat()
            board.exiting("recycled after 5 jobs")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert 0 < time.monotonic() - board.supervisor() < 60
    assert board.exit_note() == "recycled after 5 jobs"
    # the listener asks; a second request waits until the worker took the first
    assert board.request_kill(4242, "job killed: above the hard memory limit")
    assert not board.request_kill(4343, "another")
    assert board.kill_request() == (4242, "job killed: above the hard memory limit")
    board.kill_done()
    assert board.kill_request() is None
    assert board.request_kill(4343, "x" * 500)  # a long note is cut, never spills over
    assert board.kill_request() == (4343, "x" * scoreboard.NOTE)
    assert board.read(0).heartbeat == 0.0  # the records are untouched
