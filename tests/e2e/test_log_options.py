"""``--log-format json``, ``-v`` and ``-q`` on the master and on ``resqued work``."""

from __future__ import annotations

import json
import signal

import pytest
from support.jobs import push
from support.procs import wait_for


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_master_json_lines_from_every_process(resqued, app_dir, r):
    m = resqued("-n", "1", "-r", "demo_jobs", "--log-format", "json", cwd=app_dir)
    wait_for(lambda: "is ready" in m.output(), 20, "master ready")
    push(r, "default", "Fail", "boom")
    wait_for(lambda: r.llen("resque:failed") == 1, 15, "the job failed")
    m.signal(signal.SIGQUIT)
    assert m.wait(20) == 0
    docs = json_lines(m.output())  # every line is one JSON object
    assert {"master", "listener", "worker"} <= {d["process"] for d in docs}
    for d in docs:
        assert {"time", "level", "process", "pid", "message"} <= set(d)
    assert any(d["level"] == "INFO" and "is ready" in d["message"] for d in docs)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_work_verbose_and_quiet(resqued, app_dir, r, fmt):
    common = ("-r", "demo_jobs", "-i", "1", "--log-format", fmt)
    loud = resqued("work", "-q", "loud", "-v", *common, cwd=app_dir)
    quiet = resqued("work", "-q", "quiet", "--quiet", *common, cwd=app_dir)
    wait_for(lambda: r.scard("resque:workers") == 2, 15, "two workers")
    push(r, "loud", "Noop")
    push(r, "quiet", "Fail", "boom")  # logged at INFO by the worker: not shown with --quiet
    wait_for(lambda: int(r.get("resque:stat:processed") or 0) == 2, 15, "both jobs")
    for w in (loud, quiet):
        w.signal(signal.SIGQUIT)
        assert w.wait(20) == 0
    if fmt == "json":
        levels = {d["level"] for d in json_lines(loud.output())}
        assert "DEBUG" in levels and "INFO" in levels
        assert json_lines(quiet.output()) == []
    else:
        assert " DEBUG: " in loud.output() and " INFO: " in loud.output()
        assert quiet.output() == ""


def test_master_quiet_logs_errors_only(resqued, app_dir, r):
    m = resqued("-n", "1", "-q", cwd=app_dir)
    wait_for(lambda: r.scard("resque:workers") == 1, 15, "worker")
    m.signal(signal.SIGQUIT)
    assert m.wait(20) == 0
    assert m.output() == ""
