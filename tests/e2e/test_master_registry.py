"""Masters register themselves in Redis, so status and the dashboard see every host's masters."""

from __future__ import annotations

import signal

from support.procs import descendants, wait_for

from resqued.fleet import read_fleet
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
        import os

        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: masters(redis_url)[0].replacements.get("killed by SIGKILL") == 1, 10,
             "the replacement counted by reason")  # fmt: skip
    m.signal(signal.SIGQUIT)
    assert m.wait(20) == 0
    assert not r.exists(master_key(Keys(), master.id))
    assert not r.sismember(masters_key(Keys()), master.id)
