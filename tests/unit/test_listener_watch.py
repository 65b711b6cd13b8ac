"""The listener's watch without processes: statistics across recycled workers, the heartbeat."""

from __future__ import annotations

import json
import struct
import time

from resqued.config.model import Config, WorkerRow
from resqued.listener import guard as g
from resqued.listener.slots import Slot
from resqued.listener.stats import StatsBook
from resqued.listener.watch import Watch
from resqued.resque import registry
from resqued.resque.store import Store
from resqued.scoreboard import STATES, Scoreboard


def worker_board(jobs: int, queue: str = "q", cls: str = "Job", failed: int = 0) -> Scoreboard:
    board = Scoreboard()
    for n in range(jobs):
        board.job_started(queue, cls)
        board.job_finished(ok=n >= failed)
    board.publish()
    return board


def test_statistics_add_up_live_and_exited_workers():
    book = StatsBook()
    first, second = worker_board(3, failed=1), worker_board(2)
    book.read(1, first)
    book.read(2, second)
    book.retire(1, first)  # a recycled worker: its rows are kept
    third = worker_board(1, cls="Other")
    book.read(3, third)
    doc = book.doc({"waiting": 2})
    rows = {(q, c): (n, f) for q, c, n, f, *_ in doc["jobs"]}
    assert rows == {("q", "Job"): (5, 1), ("q", "Other"): (1, 0)}
    assert doc["workers"] == {s: (2 if s == "waiting" else 0) for s in STATES}
    assert book.changed(doc) and not book.changed(book.doc({"waiting": 2}))


def test_a_worker_s_last_jobs_count_when_it_exits():
    book = StatsBook()
    board = worker_board(1)
    book.read(7, board)
    board.count("q", "Job", True, 0.1)  # done after the listener's last look
    board.publish()
    book.retire(7, board)
    [row] = book.doc({})["jobs"]
    assert row[2] == 2


def slot_for(pid: int, board: Scoreboard, rails: g.Rails, now: float) -> Slot:
    slot = Slot(0, WorkerRow(("q",)))
    slot.started(pid, now, board, rails)
    return slot


def test_the_listener_beats_for_registered_workers_that_are_alive(r, redis_url):
    store = Store.connect(redis_url)
    now = time.monotonic()
    watch = Watch(Config(threads=2), store, now)
    rails = g.Rails(g.THREADS, stuck_timeout=10)
    alive, stuck, starting = Scoreboard(2), Scoreboard(2), Scoreboard(2)
    for board in (alive, stuck):
        board.supervisor_beat()
        board.beat(0, "waiting")
        board.beat(1, "working")
    alive.beat(1, "stopping")  # a thread that finished: still registered while it unregisters
    workers = {
        101: slot_for(101, alive, rails, now),
        102: slot_for(102, stuck, rails, now - 60),
        103: slot_for(103, starting, rails, now),  # not registered yet
    }
    struct.pack_into("<d", stuck.map, 8, now - 30)  # its supervising thread went silent
    base, starter = registry.worker_id("q", 101), registry.worker_id("q", 103)
    assert watch.alive(workers, now) == [base, f"{base}#2", starter, f"{starter}#2"]
    r.sadd("resque:workers", base, f"{base}#2")
    assert watch.heartbeat.due(now) and not watch.heartbeat.due(now - 1)
    watch.heartbeat.beat(watch.alive(workers, now), now)
    assert not watch.heartbeat.due(now + 9) and watch.heartbeat.due(now + 10)
    # only registered ids get a heartbeat: the starting worker has none yet
    assert sorted(r.hkeys("resque:workers:heartbeat")) == [base.encode(), f"{base}#2".encode()]
    record = json.loads(r.get(f"resque:resqued:host:{registry.hostname()}"))
    assert record["every"] == 10.0 and abs(record["beat_at"] - store.server_time()) < 5
    assert 0 < r.ttl(f"resque:resqued:host:{registry.hostname()}") <= 3600


def test_a_worker_that_unregistered_gets_no_heartbeat_back(r, redis_url):
    store = Store.connect(redis_url)
    watch = Watch(Config(), store, time.monotonic())
    finishing, gone = registry.worker_id("q", 201), registry.worker_id("q", 202)
    r.sadd("resque:workers", finishing)
    watch.heartbeat.beat([finishing, gone], time.monotonic())
    assert r.hkeys("resque:workers:heartbeat") == [finishing.encode()]
