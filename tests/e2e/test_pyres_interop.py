"""pyres 1.5 as a real peer: it enqueues for us, runs what we enqueue, and its registry
entries (epoch times, its own failure format) never trip our worker's prune."""

from __future__ import annotations

import json
import signal
import sys
import time

import pytest
from support.jobs import failures, idle, strings, work, worker_id
from support.procs import dead_pid, wait_for

import resqued

pyres = pytest.importorskip("pyres")
from pyres import ResQ  # noqa: E402
from pyres.job import Job as PyresJob  # noqa: E402
from pyres.worker import Worker as PyresWorker  # noqa: E402


@pytest.fixture
def resq(redis_server, r):
    return ResQ(server=f"127.0.0.1:{redis_server.port}")


@pytest.fixture
def app_on_path(app_dir, monkeypatch, redis_url):
    monkeypatch.syspath_prepend(str(app_dir))
    monkeypatch.setenv("REDIS_URL", redis_url)
    yield app_dir
    for name in ("pyres_jobs", "pyres_more"):
        sys.modules.pop(name, None)


@pytest.mark.parametrize("mode", ["--fork", "--no-fork"])
def test_jobs_pyres_enqueues_by_dotted_path_run_on_our_worker(resqued, app_on_path, r, resq, mode):
    import pyres_jobs

    resq.enqueue(pyres_jobs.Square, 7)
    resq.enqueue_from_string("pyres_jobs.Square", "math", 9)
    first = json.loads(r.lindex("resque:queue:math", 0))
    assert first["class"] == "pyres_jobs.Square" and "enqueue_timestamp" in first
    assert r.sismember("resque:queues", "math")
    w = resqued("work", "-q", "math", "-r", "pyres_jobs", "-i", "1", mode, cwd=app_on_path)
    wait_for(lambda: r.llen("squares") == 2, 15, "pyres jobs done")
    assert [int(x) for x in r.lrange("squares", 0, -1)] == [49, 81]
    assert r.llen("resque:failed") == 0
    wait_for(lambda: resq.info()["processed"] == 2, 10, "pyres reads our stats")
    w.signal(signal.SIGQUIT)
    assert w.wait(20) == 0


def test_a_failing_pyres_job_keeps_its_extra_fields(resqued, app_on_path, r, resq):
    import pyres_more

    resq.enqueue(pyres_more.Explode, 4)
    raw_payload = json.loads(r.lindex("resque:queue:math", 0))
    w = resqued("work", "-q", "math", "-r", "pyres_more", "-i", "1", cwd=app_on_path)
    wid = worker_id(r)
    wait_for(lambda: r.llen("resque:failed") == 1, 15, "failure")
    [rec] = failures(r)
    assert rec["payload"] == raw_payload  # enqueue_timestamp and all
    assert list(rec["payload"]) == ["class", "args", "enqueue_timestamp"]
    assert rec["exception"] == "ZeroDivisionError" and rec["error"] == "cannot split 4"
    assert rec["worker"] == wid and rec["queue"] == "math"
    # pyres's reader of the failed list understands our record
    from pyres import failure as pyres_failure

    assert pyres_failure.count(resq) == 1
    assert pyres_failure.all(resq, 0, 1)[0]["exception"] == "ZeroDivisionError"
    w.signal(signal.SIGQUIT)


def test_a_dotted_path_outside_the_required_modules_is_refused(resqued, app_on_path, r, resq):
    resq.enqueue_from_string("pyres_more.Explode", "math", 1)  # pyres_more not given with -r
    resq.enqueue_from_string("pyres_jobs.Square", "math", 3)
    work(resqued, app_on_path, "-q", "math", lib="pyres_jobs")
    wait_for(lambda: r.llen("squares") == 1, 15, "the allowed job")
    [rec] = failures(r)
    assert rec["exception"] == "resqued.UnknownJobClass"
    assert rec["payload"]["class"] == "pyres_more.Explode"


def test_pyres_runs_what_we_enqueue(app_on_path, r, resq, redis_url):
    import pyres_jobs

    resqued.connect(redis_url)
    resqued.enqueue_to("math", "pyres_jobs.Square", 6)
    assert r.lindex("resque:queue:math", 0) == b'{"class":"pyres_jobs.Square","args":[6]}'
    job = PyresJob.reserve(["math"], resq)
    assert job is not None and job._payload == {"class": "pyres_jobs.Square", "args": [6]}
    job.perform()
    assert r.lrange("squares", 0, -1) == [b"36"]
    assert pyres_jobs.Square.queue == "math"


def test_pyres_reads_our_worker_while_it_works(resqued, app_on_path, r, resq):
    resq.enqueue_from_string("pyres_more.Nap", "math", "n", 1.5)
    w = work(resqued, app_on_path, "-q", "math", lib="pyres_more")
    wid = worker_id(r)
    wait_for(lambda: r.llen("started") == 1, 15, "job running")
    assert wid in resq.workers()
    [busy] = PyresWorker.working(resq)
    assert str(busy) == wid and busy.state() == "working"
    assert busy.job()["queue"] == "math" and busy.job()["payload"]["class"] == "pyres_more.Nap"
    wait_for(lambda: r.llen("finished") == 1, 15, "job done")
    wait_for(lambda: PyresWorker.working(resq) == [], 10, "idle in pyres's eyes")
    w.signal(signal.SIGQUIT)
    assert w.wait(20) == 0


def _pyres_worker(resq, pid: int, queues=("math",), host: str | None = None) -> PyresWorker:
    peer = PyresWorker(list(queues), resq)
    peer.pid = pid
    if host:
        peer.hostname = host
    return peer


def test_dead_pyres_worker_with_a_job_is_pruned_and_its_job_failed(resqued, app_on_path, r, resq):
    import pyres_jobs

    peer = _pyres_worker(resq, dead_pid())
    peer.register_worker()
    peer.started = __import__("datetime").datetime.now()  # epoch-style :started
    resq.enqueue(pyres_jobs.Square, 5)
    job = peer.reserve(timeout=1)
    peer.working_on(job)  # epoch run_at, pyres's own JSON spacing
    r.incr(f"resque:stat:processed:{peer}")
    pid_started = r.get(f"resque:worker:{peer}:started")
    assert pid_started.isdigit()
    w = work(resqued, app_on_path, "-q", "other", lib="pyres_jobs")
    wait_for(lambda: r.llen("resque:failed") == 1, 15, "the dead pyres worker's job failed")
    [rec] = failures(r)
    assert rec["exception"] == "Resque::DirtyExit"
    assert rec["worker"] == str(peer) and rec["queue"] == "math"
    assert rec["payload"]["class"] == "pyres_jobs.Square" and rec["payload"]["args"] == [5]
    assert not r.sismember("resque:workers", str(peer))
    assert not r.exists(
        f"resque:worker:{peer}", f"resque:worker:{peer}:started", f"resque:stat:processed:{peer}"
    )
    assert "Traceback" not in w.output()
    idle(w, "other")


def test_pyres_formats_in_the_registry_do_not_break_prune(resqued, app_on_path, r, resq):
    now = time.time()
    # pyres's failure record: "exception":"type", a naive failed_at, no backtrace
    r.rpush(
        "resque:failed",
        json.dumps(
            {
                "failed_at": "2024/01/01 12:00:00",
                "payload": {},
                "exception": "type",
                "error": "x",
                "queue": "math",
            }
        ),
    )
    live_local = _pyres_worker(resq, __import__("os").getpid())  # alive, but not a resque title
    gone_remote = _pyres_worker(resq, 4242, host="elsewhere")
    fresh_remote = _pyres_worker(resq, 4343, host="faraway")
    odd_remote = _pyres_worker(resq, 4444, host="nowhere")
    for peer in (live_local, gone_remote, fresh_remote, odd_remote):
        peer.register_worker()
        peer.started = __import__("datetime").datetime.now()
    r.hset(
        "resque:workers:heartbeat",
        mapping={
            str(gone_remote): str(int(now - 3600)),  # epoch seconds, an hour old
            str(fresh_remote): f"{now:.3f}",  # epoch with a fraction, fresh
            str(odd_remote): "not a time",
        },
    )
    r.set(
        f"resque:worker:{gone_remote}",
        json.dumps(
            {
                "queue": "math",
                "run_at": str(int(now - 3600)),
                "payload": {"class": "pyres_jobs.Square", "args": [2], "enqueue_timestamp": now},
            }
        ),
    )
    w = work(resqued, app_on_path, "-q", "math", lib="pyres_jobs")
    ours = wait_for(
        lambda: [x for x in strings(r, "resque:failed") if "Prune" in x],
        15,
        "the expired pyres worker pruned",
    )
    rec = json.loads(ours[0])
    assert rec["exception"] == "Resque::PruneDeadWorkerDirtyExit"
    assert rec["worker"] == str(gone_remote) and rec["payload"]["args"] == [2]
    idle(w, "math")
    members = {x.decode() for x in r.smembers("resque:workers")}
    assert str(gone_remote) not in members and str(live_local) not in members
    assert {str(fresh_remote), str(odd_remote)} <= members  # other hosts, not expired: kept
    assert json.loads(r.lindex("resque:failed", 0))["exception"] == "type"  # left alone
    assert w.popen.poll() is None and "Traceback" not in w.output()
    w.signal(signal.SIGQUIT)
    assert w.wait(20) == 0
