"""Ruby resqued users: its DSL spellings in our Python DSL, --fast-exit, --replace, after_exit."""

from __future__ import annotations

import json
import signal

from support.compat import compat, waiting  # noqa: F401
from support.jobs import push
from support.procs import wait_for

# Ruby resqued's "Full config file example", in our Python DSL.
FULL_EXAMPLE = """\
worker("high")
worker("low", interval=30)

worker_pool(5, interval=1)
queue("high", "almosthigh")
queue("low", percent=20)
queue("normal", count=4)
queue("*")
"""


def test_ruby_resqued_full_example_gives_its_seven_workers(compat, tmp_path):  # noqa: F811
    (tmp_path / "resqued.conf.py").write_text(FULL_EXAMPLE)
    p = compat("resqued", "resqued.conf.py", "--test", cwd=tmp_path)
    assert p.wait(30) == 0, p.output()
    rows = [line.split()[1] for line in p.output().splitlines()[1:8]]
    assert rows == [
        "high",
        "low",
        "high,almosthigh,low,normal,*",
        "high,almosthigh,normal,*",
        "high,almosthigh,normal,*",
        "high,almosthigh,normal,*",
        "high,almosthigh,*",
    ]


AFTER_EXIT = """\
import json, os
require("demo_jobs")
worker_processes(1)
jobs_per_fork(1)
queue("default")

@before_fork
def count_forks():
    with open("forks.log", "a") as f:
        f.write(f"{os.getpid()}\\n")

@after_exit
def summary(worker_summary):
    status = worker_summary.process_status
    with open("exits.log", "a") as f:
        f.write(json.dumps({
            "pid": status.pid, "exitstatus": status.exitstatus, "success": status.success(),
            "alive": worker_summary.alive_time_sec, "same": status.pid == worker_summary.pid,
        }) + "\\n")
"""


def test_after_exit_gets_a_summary_like_rubys_and_before_fork_runs_per_fork(compat, app_dir, r):  # noqa: F811
    (app_dir / "resqued.conf.py").write_text(AFTER_EXIT)
    m = compat("resqued", "resqued.conf.py", "--interval", "1", cwd=app_dir)
    wait_for(waiting(m.pid, "default", 1), 20, "the worker")
    push(r, "default", "Record", "one")  # the worker exits after it (jobs_per_fork 1)
    wait_for(lambda: (app_dir / "exits.log").exists(), 20, "after_exit")
    exit_doc = json.loads((app_dir / "exits.log").read_text().splitlines()[0])
    assert exit_doc["exitstatus"] == 0 and exit_doc["success"] is True and exit_doc["same"]
    assert exit_doc["alive"] > 0
    # before_fork ran in the listener once per fork: the first worker and its replacement
    wait_for(lambda: len((app_dir / "forks.log").read_text().split()) == 2, 20, "2 forks")
    assert len(set((app_dir / "forks.log").read_text().split())) == 1  # one process: the listener
    m.signal(signal.SIGQUIT)
    assert m.wait(30) == 0


def test_fast_exit_leaves_without_waiting_for_the_workers(compat, app_dir, r):  # noqa: F811
    m = compat(
        "resqued", "-n", "1", "-r", "demo_jobs", "--fast-exit", "--interval", "1", cwd=app_dir
    )
    wait_for(waiting(m.pid, "*", 1), 20, "the worker")
    push(r, "default", "Sleep", "job", 4)
    wait_for(lambda: r.llen("started"), 10, "the job started")
    m.signal(signal.SIGQUIT)
    assert m.wait(10) == 0
    assert r.llen("finished") == 0  # the master left; the worker finishes its job on its own
    wait_for(lambda: r.lrange("finished", 0, -1) == [b"job"], 15, "the job finished")


def test_replace_refuses_a_state_it_cannot_adopt(compat, tmp_path):  # noqa: F811
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"version": 1, "listeners": [{"fd": 977, "pid": 5}]}))
    p = compat("resqued", "--replace", str(state), cwd=tmp_path)
    assert p.wait(30) == 1
    assert "--replace: listener socket 977 is not open here" in p.output()
    assert not state.exists()  # read once, then deleted, as Ruby resqued does
    missing = compat("resqued", "--replace", str(tmp_path / "gone.json"), cwd=tmp_path)
    assert missing.wait(30) == 1 and "cannot read state file" in missing.output()
