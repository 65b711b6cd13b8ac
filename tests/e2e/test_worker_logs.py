"""A worker's logs: reopening them (logrotate), failures and -v lines."""

from __future__ import annotations

import os
import signal

import pytest
from support.jobs import failures, push, strings, worker_id
from support.procs import descendants, wait_for


def _workers(master: int) -> list[int]:
    return [p for p, _, t in descendants(master) if t.startswith("resque-") and "Forked" not in t]


@pytest.mark.skipif(os.getuid() != 0, reason="drops privileges: needs root")
@pytest.mark.parametrize("fork", [True, False])
def test_a_worker_that_cannot_reopen_its_log_keeps_the_old_one_and_its_job(
    resqued, app_dir, r, tmp_path, fork
):
    log = tmp_path / "resqued.log"  # created by the master (root, 0644): nobody cannot open it
    (app_dir / "resqued.conf.py").write_text(
        f'worker_processes(1)\nuser("nobody", "nogroup")\nfork_per_job({fork})\n'
    )
    m = resqued("-c", "resqued.conf.py", "-r", "demo_jobs", "--interval", "1", "-l", str(log),
                cwd=app_dir)  # fmt: skip
    wid = worker_id(r, 20)
    [worker] = wait_for(lambda: _workers(m.pid), 10, "the worker")
    assert os.stat(f"/proc/{worker}").st_uid != 0  # it runs as nobody
    push(r, "default", "Sleep", "s", 2)
    wait_for(lambda: r.llen("started") == 1, 15, "job running")
    m.signal(signal.SIGUSR1)  # reopen logs: the worker gets HUP
    wait_for(lambda: "cannot reopen the log files" in log.read_text(), 10, "the worker's one line")
    wait_for(lambda: r.llen("finished") == 1, 15, "job finished")
    wait_for(lambda: r.get("resque:stat:processed") == b"1", 10, "job counted")
    assert failures(r) == [] and strings(r, "finished") == ["s"]
    push(r, "default", "Record", "next")
    wait_for(lambda: r.llen("record") == 1, 10, "the same worker goes on")
    assert _workers(m.pid) == [worker] and worker_id(r) == wid
    text = log.read_text()
    assert text.count("cannot reopen the log files") == 1, text
    assert "Permission denied" in text and "Traceback" not in text
    m.signal(signal.SIGQUIT)
    assert m.wait(30) == 0
    assert failures(r) == []
