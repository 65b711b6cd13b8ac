"""The fleet read model and the failed list against a real ``resqued work`` worker."""

from __future__ import annotations

import json

from support.fleet import register_master
from support.jobs import push, worker_id
from support.procs import wait_for

from resqued.fleet import read_fleet, render_text, to_json
from resqued.resque.failed import FailedList
from resqued.resque.store import Store


def test_a_real_worker_working_paused_and_its_failure_retried(resqued, app_dir, r):
    store = Store(r)
    resqued("work", "-q", "default", "-r", "demo_jobs", "-i", "0.1", cwd=app_dir)
    wid = worker_id(r)
    host, pid = wid.split(":")[0], int(wid.split(":")[1])
    mid = register_master(r, host, 999999, workers={"configured": 1, "running": 1, "pids": [pid]})

    def worker():
        fleet = read_fleet(store)
        return fleet, fleet.worker(wid)

    wait_for(lambda: worker()[1] and worker()[1].state == "waiting", 15, "a waiting worker")
    push(r, "default", "Sleep", "a", 5)
    wait_for(lambda: r.lrange("started", 0, -1), 15, "the job to start")
    fleet, w = worker()
    assert w.state == "working" and w.master == mid and w.queues == ["default"]
    assert w.job.class_name == "Sleep" and w.job.queue == "default" and w.job.args == ["a", 5]
    assert w.job.seconds is not None and 0 <= w.job.seconds < 5
    assert fleet.master(mid).worker_ids == [wid]
    assert "Sleep on default for" in render_text(fleet)
    doc = json.loads(to_json(fleet))
    assert doc["workers"][0]["job"]["class"] == "Sleep" and doc["stats"]["working"] == 1

    # Its master paused: the job finishes, then the worker shows paused.
    r.set(f"resque:resqued:pause:{mid}", "true")
    wait_for(lambda: worker()[1].state == "paused", 20, "the worker to show paused")
    fleet, w = worker()
    assert w.job is None and w.processed == 1 and fleet.master(mid).paused


def test_failures_our_worker_writes_are_listed_and_retried(resqued, app_dir, r):
    store = Store(r)
    resqued("work", "-q", "default", "-r", "demo_jobs", "-i", "0.1", cwd=app_dir)
    push(r, "default", "Fail", "first")
    failed = FailedList(store)
    wait_for(lambda: failed.count() == 1, 15, "the failure record")
    job = failed.get(0)
    assert job.class_name == "Fail" and job.queue == "default" and job.args == ["first"]
    assert job.exception == "RuntimeError" and job.error == "first" and job.backtrace
    assert job.worker.endswith(":default")
    failed.retry(0, job.digest)
    # The worker takes the retried job and fails it again: a second record.
    wait_for(lambda: failed.count() == 2, 15, "the retried job to fail again")
    assert failed.get(0).retried_at is not None and failed.get(1).retried_at is None
    assert read_fleet(store).stats.failed == 2
