"""Masters register themselves in Redis, so status and the dashboard see every host's masters."""

from __future__ import annotations

import json
import os
import signal

from support.jobs import push
from support.procs import descendants, wait_for

from resqued.fleet import read_fleet
from resqued.fleet.control import StopJob, ask
from resqued.fleet.masters import master_key, masters_key
from resqued.resque.keys import Keys
from resqued.resque.registry import hostname
from resqued.resque.store import Store


def workers(pid: int) -> list[int]:
    return sorted(p for p, _, t in descendants(pid) if t.startswith("resque-") and "Waiting" in t)


def masters(redis_url: str):
    return read_fleet(Store.connect(redis_url)).masters


def test_a_master_registers_its_listener_and_workers_and_leaves_on_exit(resqued, app_dir, r,
                                                                          redis_url):  # fmt: skip
    conf = app_dir / "conf.py"
    conf.write_text("worker_processes(2)\nqueue('default')\n")
    m = resqued("-c", str(conf), "-r", "demo_jobs", cwd=app_dir)
    wait_for(lambda: len(workers(m.pid)) == 2, 20, "2 workers")
    wait_for(lambda: masters(redis_url) and masters(redis_url)[0].workers.pids == workers(m.pid),
             10, "the registration lists the workers")  # fmt: skip
    [master] = masters(redis_url)
    assert master.id == f"{hostname()}:{m.pid}" and master.host == hostname()
    assert master.generation == 1 and master.state == "running"
    assert master.config == [str(conf)]
    assert master.listener and master.listener.state == "running"
    assert master.workers.configured == 2 and master.workers.running == 2
    assert r.ttl(master_key(Keys(), master.id)) > 0  # it expires if the master vanishes
    conf.write_text("worker_processes(2)\nqueue('default', 'lots%')\n")
    m.signal(signal.SIGHUP)
    wait_for(lambda: (masters(redis_url)[0].last_reload or None) is not None
             and masters(redis_url)[0].last_reload.outcome == "failed", 20, "failed reload shown")  # fmt: skip
    assert "lots" in (masters(redis_url)[0].last_reload.error or "")
    before = workers(m.pid)
    for pid in before[:1]:
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: masters(redis_url)[0].replacements.get("killed by SIGKILL") == 1, 10,
             "the replacement counted by reason")  # fmt: skip
    m.signal(signal.SIGQUIT)
    assert m.wait(20) == 0
    assert not r.exists(master_key(Keys(), master.id))
    assert not r.sismember(masters_key(Keys()), master.id)


def test_a_reload_is_no_replacement_and_the_dashboard_can_stop_one_job(resqued, app_dir, r,
                                                                       redis_url):  # fmt: skip
    """A HUP retires every worker on purpose: alerts on replacements must not fire on each
    deploy.  A worker killed is counted, with its queues, for the worker's page; and the
    dashboard's request to stop a job reaches the worker through its master (USR1)."""
    conf = app_dir / "conf.py"
    conf.write_text("worker_processes(2)\nqueue('default')\n")
    m = resqued("-c", str(conf), "-r", "demo_jobs", cwd=app_dir)
    wait_for(lambda: len(workers(m.pid)) == 2, 20, "2 workers")
    first = workers(m.pid)
    m.signal(signal.SIGHUP)
    wait_for(lambda: (masters(redis_url)[0].last_reload or None) is not None
             and masters(redis_url)[0].last_reload.outcome == "ok", 20, "the reload")  # fmt: skip
    wait_for(lambda: len(workers(m.pid)) == 2 and not set(workers(m.pid)) & set(first), 20,
             "the old workers retired and new ones up")  # fmt: skip
    [master] = masters(redis_url)
    assert master.replacements == {} and master.recent_replacements == []

    os.kill(workers(m.pid)[0], signal.SIGKILL)
    wait_for(lambda: masters(redis_url)[0].replacements == {"killed by SIGKILL": 1}, 10,
             "the kill counted")  # fmt: skip
    [gone] = masters(redis_url)[0].recent_replacements
    assert gone.queues == "default" and gone.reason == "killed by SIGKILL"

    push(r, "default", "Sleep", "long", 60)
    wait_for(lambda: r.llen("started") == 1, 20, "the job to start")
    wid = next(w.decode() for w in r.smembers("resque:workers") if r.exists(b"resque:worker:" + w))
    pid = int(wid.split(":")[1])
    run_at = json.loads(r.get(f"resque:worker:{wid}"))["run_at"]
    ask(Store.connect(redis_url), master.id, StopJob(wid, pid, run_at))
    wait_for(lambda: r.llen("resque:failed") == 1, 20, "the job stopped and recorded as failed")
    record = json.loads(r.lindex("resque:failed", 0))
    # USR1 to a forking worker kills its job's child, as Resque's does.
    assert record["payload"]["class"] == "Sleep" and "SIGKILL" in record["error"], record
    assert not r.exists("finished") and pid in workers(m.pid)  # the worker goes on
    m.signal(signal.SIGQUIT)
    assert m.wait(20) == 0
