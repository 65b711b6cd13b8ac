"""Guard-rail settings through the real command: bad ones refused on one line, at --test, at
start and on HUP (the running workers stay); time limits in ``resqued work``."""

from __future__ import annotations

import signal

import pytest
from support.jobs import PREFIX, failures, push
from support.procs import descendants, wait_for
from support.worker import events


def workers(master: int) -> list[int]:
    return [p for p, _, t in descendants(master) if t.startswith(PREFIX) and "Waiting" in t]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--job-timeout", "5", "--job-soft-timeout", "10"],
            "job_soft_timeout (10s) must be below",
        ),
        (["--memory-limit", "2XB"], "--memory-limit must be a size such as 2GB, 512M or 512MiB"),
        (["--max-age", "-1"], "--max-age must not be negative"),
        (["--stuck-timeout", "1"], "stuck_timeout must be 0 (off) or at least 2 seconds"),
    ],
)
def test_limits_that_make_no_sense_are_refused_by_test_on_one_line(resqued, app_dir, args, message):
    m = resqued("-n", "1", *args, "--test", cwd=app_dir)
    assert m.wait(30) == 1
    out = m.output()
    assert message in out and "Traceback" not in out
    assert len(out.strip().splitlines()) == 1, out


def test_a_config_file_with_bad_limits_does_not_start(resqued, app_dir):
    conf = app_dir / "conf.py"
    conf.write_text(
        "worker_processes(1)\nworker('mail', memory_limit='1G', memory_soft_limit='2G')\n"
    )
    m = resqued("-c", str(conf), cwd=app_dir)
    assert m.wait(30) == 1
    out = m.output()
    assert f"{conf}:2" in out and "memory_soft_limit (2GB) must be below memory_limit (1GB)" in out
    assert "Traceback" not in out


def test_bad_limits_on_hup_leave_the_running_workers_alone(resqued, app_dir, r):
    conf = app_dir / "conf.py"
    conf.write_text("worker_processes(2)\nqueue('default')\njob_timeout(30)\n")
    m = resqued("-c", str(conf), "-r", "demo_jobs", cwd=app_dir)
    wait_for(lambda: len(workers(m.pid)) == 2, 20, "2 workers")
    before = sorted(workers(m.pid))
    conf.write_text(
        "worker_processes(2)\nqueue('default')\njob_timeout(30)\njob_soft_timeout(60)\n"
    )
    m.signal(signal.SIGHUP)
    wait_for(lambda: "reload failed" in m.output(), 30, "the reload refused")
    assert "job_soft_timeout (60s) must be below job_timeout (30s)" in m.output()
    assert sorted(workers(m.pid)) == before
    push(r, "default", "Record", "still")
    wait_for(lambda: r.llen("record") == 1, 15, "the old workers still work")
    m.signal(signal.SIGQUIT)
    assert m.wait(30) == 0


@pytest.mark.parametrize("mode", ["--fork", "--no-fork"])
def test_resqued_work_enforces_time_limits_itself(resqued, app_dir, r, mode):
    w = resqued(
        "work", "-q", "default", "-r", "limit_jobs", "-i", "1", mode,
        "--job-timeout", "2", "--job-soft-timeout", "1", cwd=app_dir,
    )  # fmt: skip
    wait_for(lambda: r.scard("resque:workers") == 1, 15, "registered")
    push(r, "default", "Patient", "p", 30)
    push(r, "default", "Stubborn", "s")
    wait_for(lambda: failures(r), 20, "the stubborn job stopped")
    [failed] = failures(r)
    assert failed["exception"] == "resqued.JobTimeout"
    assert "hard time limit 2s" in failed["error"]
    assert events(r, "soft:p") and events(r, "cleanup:p") and events(r, "soft:s")
    wait_for(lambda: events(r, "on_failure:s:JobTimeout"), 10, "on_failure ran")
    w.signal(signal.SIGQUIT)
    assert w.wait(20) == 0
