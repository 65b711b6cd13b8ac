"""A job a worker reserved and never started (its RESERVE's reply lost: Redis killed after
writing it) goes back to the head of its queue when the worker stops, never to ``failed``."""

from __future__ import annotations

import json
import os

import pytest

import resqued
from resqued.listener.exits import unregister_dead
from resqued.resque import failure, registry
from resqued.resque.queues import QueueList
from resqued.resque.store import Store
from resqued.worker.lifecycle import Worker

DIRTY = (failure.DIRTY_EXIT, "Job still being processed", None)


@pytest.fixture
def store(r, redis_url) -> Store:
    return resqued.connect(redis_url)


def body(n: int) -> str:
    return json.dumps({"class": "Archive", "args": [n]})


def worker(store: Store, r, jobs: int) -> Worker:
    """A registered worker on ``high``, with ``jobs`` jobs queued."""
    w = Worker(store, QueueList.parse("high"))
    w._register()
    for n in range(jobs):
        r.rpush("resque:queue:high", body(n))
    return w


def queued(r) -> list[str]:
    return [x.decode() for x in r.lrange("resque:queue:high", 0, -1)]


def test_the_worker_stopping_puts_back_a_job_whose_reserve_reply_it_lost(store, r):
    w = worker(store, r, 2)
    w.loop.reserver.call()  # the reply is lost: the job is in worker:<id>, never started
    w._unregister()
    assert queued(r) == [body(0), body(1)]  # back at the head, in order
    assert not r.lrange("resque:failed", 0, -1)
    assert not r.exists(f"resque:worker:{w.id}")


def test_a_job_it_ran_whose_outcome_was_lost_is_still_failed(store, r):
    w = worker(store, r, 1)
    w.loop.reserver.call()  # job 0 reserved and run: its outcome is pending
    w.loop.reserver.pending = b""
    w._unregister()  # Redis could not take the outcome: the job may have run
    [failed] = [json.loads(x) for x in r.lrange("resque:failed", 0, -1)]
    assert failed["exception"] == failure.DIRTY_EXIT
    assert not queued(r)


@pytest.mark.parametrize("finished, back", [(1, True), (2, False)])
def test_the_listener_puts_back_what_a_dead_thread_reserved_after_its_last_job(
    store, r, finished, back
):
    """A thread that ran no job when its process died: its scoreboard says it finished
    ``finished`` jobs; Redis counts 1 recorded.  Equal: worker:<id> holds a job it never
    started.  More: it holds the one whose outcome was lost, which is failed."""
    w = worker(store, r, 2)
    w.loop.reserver.call()  # job 0
    w.loop.reserver.pending = b""
    w.loop.reserver.call()  # job 0 recorded, job 1 reserved: the reply is lost
    assert unregister_dead(store, os.getpid(), "high", [DIRTY], [finished]) is None
    assert queued(r) == ([body(1)] if back else [])
    assert len(r.lrange("resque:failed", 0, -1)) == (0 if back else 1)
    assert not r.sismember("resque:workers", w.id)


def test_a_thread_in_a_job_when_it_died_has_its_job_failed(store, r):
    w = worker(store, r, 1)
    w.loop.reserver.call()
    assert unregister_dead(store, os.getpid(), "high", [DIRTY], [None]) is None
    assert len(r.lrange("resque:failed", 0, -1)) == 1
    assert not queued(r)


def test_a_document_it_did_not_write_is_left_to_the_failure_record(store, r):
    wid = registry.worker_id("high")
    r.set(f"resque:worker:{wid}", b"not json")
    assert not registry.requeue_unstarted(store, wid, 0)
    assert r.exists(f"resque:worker:{wid}")
