"""Guard rails that hold when the listener cannot act: Redis paused, or the listener stopped.

An in-process job's hard time limit is held by the worker's own watchdog (a
kernel timer), not only by the listener's loop, which a paused Redis blocks
(``CLIENT PAUSE``) and ``SIGSTOP`` freezes; the job is then recorded with its
real reason (``resqued.JobTimeout``), not as a dirty exit because a prune saw
the dead worker before the listener reaped it.  Fork mode, where the worker
kills its own job child, is held to the same.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from support.procs import descendants, wait_for
from support.redis_server import ExtraRedis

from resqued.process.proc import alive

MODES = {"fork": [], "in process": ["--no-fork"]}
mode_names = pytest.mark.parametrize("mode", list(MODES))


@pytest.fixture
def server(tmp_path: Path):
    """A Redis of the test's own: it is paused."""
    s = ExtraRedis(tmp_path / "redis")
    s.dir.mkdir()
    s.start()
    yield s
    s.stop()


def start(resqued, app_dir: Path, server: ExtraRedis, mode: str):
    conf = app_dir / "limits.conf.py"
    # Prune every second: the listener is on Redis often, so a paused Redis blocks it.
    conf.write_text("worker_processes(1)\nqueue('default')\ninterval(1)\nprune_interval(1)\n")
    url = server.url
    m = resqued(
        "-c", str(conf), "-r", "limit_jobs", "--job-timeout", "2", *MODES[mode], "--redis", url,
        cwd=app_dir, env={"REDIS_URL": url}, redis=False,
    )  # fmt: skip
    wait_for(lambda: server.client().scard("resque:workers") == 1, 20, "the worker")
    return m


def running_job(m, client) -> int:
    """The process running the job (the worker in process, its job child in fork mode)."""
    client.rpush("resque:queue:default", json.dumps({"class": "Stubborn", "args": ["s"]}))
    client.sadd("resque:queues", "default")
    wait_for(lambda: b"started:s" in client.lrange("events", 0, -1), 20, "the job running")
    return int(
        wait_for(
            lambda: [p for p, _, t in descendants(m.pid) if "Processing default" in t],
            10,
            "its process",
        )[0]
    )


def listener_of(m) -> int:
    [pid] = [p for p, pp, t in descendants(m.pid) if pp == m.pid and " listener #" in t]
    return pid


def recorded_as_timed_out(client, m) -> None:
    wait_for(lambda: client.llen("resque:failed") == 1, 30, "the job in failed")
    [failed] = [json.loads(x) for x in client.lrange("resque:failed", 0, -1)]
    assert failed["payload"] == {"class": "Stubborn", "args": ["s"]}
    assert failed["exception"] == "resqued.JobTimeout", (failed, m.output()[-3000:])
    assert "hard time limit 2s" in failed["error"]
    wait_for(lambda: b"on_failure:s:JobTimeout" in client.lrange("events", 0, -1), 15, "on_failure")


@mode_names
def test_a_hard_limit_holds_while_redis_is_paused(resqued, app_dir, server, mode):
    m = start(resqued, app_dir, server, mode)
    client = server.client()
    job = running_job(m, client)
    # Writes wait (the listener's prune first takes Resque's prune lock), reads go on, so
    # the test can look and end the pause.
    client.client_pause(60_000, all=False)
    try:
        wait_for(lambda: not alive(job), 15, "the job killed at its limit, Redis still paused")
    finally:
        client.client_unpause()
    recorded_as_timed_out(client, m)
    client.rpush("resque:queue:default", json.dumps({"class": "WhoRuns", "args": ["next"]}))
    wait_for(lambda: client.llen("pids") == 1, 20, "the next job")
    assert "Traceback" not in m.output()
    m.signal(signal.SIGQUIT)
    assert m.wait(30) == 0


@mode_names
def test_a_hard_limit_holds_while_the_listener_is_stopped(resqued, app_dir, server, mode):
    m = start(resqued, app_dir, server, mode)
    client = server.client()
    job = running_job(m, client)
    listener = listener_of(m)
    os.kill(listener, signal.SIGSTOP)
    try:
        wait_for(lambda: not alive(job), 15, "the job killed at its limit, its listener stopped")
    finally:
        os.kill(listener, signal.SIGCONT)
    recorded_as_timed_out(client, m)
    assert "Traceback" not in m.output()
    m.signal(signal.SIGQUIT)
    assert m.wait(30) == 0


def test_a_job_child_ends_at_its_limit_while_its_worker_is_stopped(resqued, app_dir, server):
    """Fork mode: the worker kills its job child at the limit, unless it cannot act (stopped,
    hung); then the child's own watchdog ends it a second later, and the worker, once it
    runs again, records the job as timed out."""
    m = start(resqued, app_dir, server, "fork")
    client = server.client()
    job = running_job(m, client)
    worker = next(pp for p, pp, _ in descendants(m.pid) if p == job)
    os.kill(worker, signal.SIGSTOP)
    try:
        wait_for(lambda: not alive(job), 15, "the job child ended, its worker stopped")
    finally:
        os.kill(worker, signal.SIGCONT)
    recorded_as_timed_out(client, m)
    [failed] = [json.loads(x) for x in client.lrange("resque:failed", 0, -1)]
    assert "killed by its watchdog" in failed["error"]
    m.signal(signal.SIGQUIT)
    assert m.wait(30) == 0
