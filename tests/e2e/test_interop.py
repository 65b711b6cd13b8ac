"""Interoperability with a real peer: pyres enqueues, reads and registers; we work along."""

from __future__ import annotations

import json
import signal

import pytest
from support.procs import wait_for

pyres = pytest.importorskip("pyres")
from pyres import ResQ  # noqa: E402
from pyres.worker import Worker as PyresWorker  # noqa: E402


@pytest.fixture
def resq(redis_server, r):
    return ResQ(server=f"127.0.0.1:{redis_server.port}")


def test_jobs_enqueued_by_pyres_run_on_our_worker(resqued, app_dir, r, resq):
    import sys

    sys.path.insert(0, str(app_dir))
    try:
        import pyres_jobs
    finally:
        sys.path.remove(str(app_dir))
    resq.enqueue(pyres_jobs.Square, 7)
    resq.enqueue_from_string("pyres_jobs.Square", "math", 9)
    raw = json.loads(r.lindex("resque:queue:math", 0))
    assert raw["class"] == "pyres_jobs.Square" and "enqueue_timestamp" in raw
    w = resqued("work", "-q", "math", "-r", "pyres_jobs", "-i", "1", cwd=app_dir)
    wait_for(lambda: r.llen("squares") == 2, 15, "pyres jobs done")
    assert sorted(int(x) for x in r.lrange("squares", 0, -1)) == [49, 81]
    assert r.llen("resque:failed") == 0
    # pyres's own readers understand what our worker wrote
    assert resq.info()["processed"] == 2
    assert any(wid.split(":")[1] == str(w.pid) for wid in resq.workers())
    w.signal(signal.SIGQUIT)
    assert w.wait(20) == 0


def test_a_pyres_job_outside_allowed_modules_is_refused(resqued, app_dir, r, resq):
    resq.enqueue_from_string("os.system", "math", "echo pwned")
    w = resqued("work", "-q", "math", "-r", "demo_jobs", "-i", "1", cwd=app_dir)
    wait_for(lambda: r.llen("resque:failed") == 1, 15, "refused job recorded")
    rec = json.loads(r.lindex("resque:failed", 0))
    assert rec["exception"] == "resqued.UnknownJobClass"
    assert rec["payload"]["class"] == "os.system"
    assert "enqueue_timestamp" in rec["payload"]  # extra fields survive the trip
    w.signal(signal.SIGQUIT)


def test_pyres_registrations_do_not_break_our_prune(resqued, app_dir, r, resq):
    peer = PyresWorker(["math"], resq)
    peer.register_worker()  # epoch-style :started, no heartbeat, a pid that is not ours
    r.rpush(
        "resque:failed",
        json.dumps(
            {"failed_at": "2024-01-01 00:00:00", "payload": {}, "exception": "type", "error": "x"}
        ),
    )
    w = resqued("work", "-q", "math", "-r", "demo_jobs", "-i", "1", cwd=app_dir)
    wait_for(lambda: "started" in w.output(), 15, "worker up")
    assert "Traceback" not in w.output()
    # the pyres worker's pid is this test process: alive, but not a resque process
    assert str(peer).encode() not in r.smembers("resque:workers")
    assert w.popen.poll() is None
