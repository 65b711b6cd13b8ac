"""A worker's logs: reopening them (logrotate), failures and -v lines."""

from __future__ import annotations

import os
import re
import signal

import pytest
from support.jobs import failures, push, push_raw, strings, work, worker_id
from support.procs import descendants, wait_for
from support.worker import quit_


def _workers(master: int) -> list[int]:
    return [p for p, _, t in descendants(master) if t.startswith("resque-") and "Forked" not in t]


@pytest.mark.skipif(os.getuid() != 0, reason="drops privileges: needs root")
@pytest.mark.parametrize("fork", [True, False])
def test_a_worker_that_cannot_reopen_its_log_keeps_the_old_one_and_its_job(
    resqued, app_dir, r, tmp_path, fork
):
    # The master hands the log file to the workers' user after each reopen; in a
    # directory only root may enter, nobody still cannot open it.
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    log = private / "resqued.log"
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
    assert text.count(f"worker {worker}: cannot reopen the log files") == 1, text
    assert text.count("listener #1: cannot reopen the log files") == 1, text  # it is nobody too
    assert "Permission denied" in text and "Traceback" not in text
    m.signal(signal.SIGQUIT)
    assert m.wait(30) == 0
    assert failures(r) == []


def _lines(w, text: str) -> list[str]:
    return [line for line in w.output().splitlines() if text in line]


@pytest.mark.parametrize("mode", ["--fork", "--no-fork"])
def test_a_failed_job_is_one_warning_naming_class_queue_and_exception(resqued, app_dir, r, mode):
    push(r, "default", "Fail", "it broke\nsecond line")
    push(r, "default", "Nope::Missing")
    push_raw(r, "default", b"{not json")
    push(r, "default", "Record", "ok")
    w = work(resqued, app_dir, "-q", "default", mode)
    wid = worker_id(r)
    wait_for(lambda: r.llen("record") == 1, 15, "the good job")
    wait_for(lambda: len(_lines(w, "failed:")) == 3, 10, "three failure lines")
    fail, missing, malformed = _lines(w, "failed:")
    assert " WARNING: " in fail and fail.endswith(
        f"worker {wid}: job Fail on default failed: RuntimeError: it broke"
    )
    assert " WARNING: " in missing and "job Nope::Missing on default failed: " in missing
    assert "resqued.UnknownJobClass: job class 'Nope::Missing' is not registered" in missing
    assert " WARNING: " in malformed
    assert "job (malformed payload) on default failed: resqued.MalformedPayload: " in malformed
    assert "DEBUG" not in w.output() and "Record" not in w.output()  # no line for a success
    quit_(w)


def test_verbose_logs_one_line_per_job_with_its_duration(resqued, app_dir, r):
    for n in range(3):
        push(r, "default", "Record", n)
    push(r, "default", "Fail", "no")
    w = work(resqued, app_dir, "-q", "default", "-v")
    wait_for(lambda: len(_lines(w, " in ")) >= 4 and r.llen("resque:failed") == 1, 15, "4 jobs")
    per_job = [line for line in _lines(w, " DEBUG: ") if re.search(r" in \d+\.\d{3}s$", line)]
    assert len(per_job) == 4, w.output()
    assert [line.split(" DEBUG: ", 1)[1].rsplit(" in ", 1)[0] for line in per_job] == [
        f"worker {worker_id(r)}: {cls} on default {how}"
        for cls, how in [("Record", "done")] * 3 + [("Fail", "failed")]
    ]
    quit_(w)
