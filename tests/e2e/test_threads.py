"""Threads per process (Action Verb's hybrid model), standalone and under the master."""

from __future__ import annotations

import signal

import pytest
from support.jobs import PREFIX, failures, push
from support.procs import descendants, titles, wait_for
from support.redis_server import ExtraRedis
from support.worker import events, outage_lines, quit_, ran_in


def test_threads_run_jobs_concurrently_in_one_process(resqued, app_dir, r):
    w = resqued(
        "work", "-q", "default", "-r", "demo_jobs", "--threads", "3", "-i", "1", cwd=app_dir
    )
    wait_for(lambda: r.scard("resque:workers") == 3, 15, "three thread workers registered")
    ids = sorted(x.decode() for x in r.smembers("resque:workers"))
    pid = str(w.pid)
    assert all(i.split(":")[1] == pid for i in ids), ids  # Ruby's prune sees a live pid
    assert sorted(i.split(":", 2)[2] for i in ids) == ["default", "default#2", "default#3"]
    for n in range(3):
        push(r, "default", "Sleep", f"s{n}", 2)
    # all three run at the same time, in the worker process itself (no fork per job)
    wait_for(lambda: r.llen("started") == 3, 10, "three jobs running at once")
    assert {e.decode().split(":")[1] for e in r.lrange("started", 0, -1)} == {pid}
    assert r.llen("finished") == 0
    w.signal(signal.SIGQUIT)  # graceful: the running jobs finish first
    assert w.wait(30) == 0
    assert r.llen("finished") == 3
    assert r.scard("resque:workers") == 0
    assert r.llen("resque:failed") == 0


def test_term_fails_jobs_still_running_in_threads(resqued, app_dir, r):
    w = resqued(
        "work",
        "-q",
        "default",
        "-r",
        "demo_jobs",
        "--threads",
        "2",
        "-i",
        "1",
        cwd=app_dir,
        env={"RESQUE_TERM_TIMEOUT": "0.5"},
    )
    wait_for(lambda: r.scard("resque:workers") == 2, 15, "registered")
    push(r, "default", "Sleep", "long", 60)
    wait_for(lambda: r.llen("started") == 1, 10, "job running")
    w.signal(signal.SIGTERM)
    w.wait(30)
    failed = failures(r)
    assert [f["exception"] for f in failed] == ["Resque::DirtyExit"]
    assert failed[0]["payload"] == {"class": "Sleep", "args": ["long", 60]}
    assert r.scard("resque:workers") == 0


def test_master_runs_threaded_workers(resqued, app_dir, r):
    m = resqued("-n", "2", "--threads", "2", "-r", "demo_jobs", "--interval", "1", cwd=app_dir)
    wait_for(lambda: r.scard("resque:workers") == 4, 20, "2 processes x 2 threads")
    workers = [p for p, _, t in descendants(m.pid) if t.startswith("resque-")]
    assert len(workers) == 2
    for n in range(4):
        push(r, "default", "Record", n)
    wait_for(lambda: r.llen("record") == 4, 10, "jobs done")
    m.signal(signal.SIGQUIT)
    assert m.wait(30) == 0
    assert r.scard("resque:workers") == 0


def threaded(resqued, app_dir, n: int, *args, env=None):
    """``resqued work --threads n`` with both test apps loaded."""
    return resqued(
        "work",
        "-q",
        "default",
        "-r",
        "demo_jobs",
        "-r",
        "hook_jobs",
        "--threads",
        str(n),
        "-i",
        "1",
        *args,
        cwd=app_dir,
        env=env,
    )


def test_jobs_per_fork_counts_the_jobs_of_the_process_not_of_each_thread(resqued, app_dir, r):
    for n in range(20):
        push(r, "default", "Record", n)
    w = threaded(resqued, app_dir, 4, "--jobs-per-fork", "5")
    assert w.wait(30) == 0
    assert r.llen("record") == 5 and r.llen("resque:queue:default") == 15
    assert r.get("resque:stat:processed") == b"5"
    assert r.scard("resque:workers") == 0 and r.llen("resque:failed") == 0


def test_usr1_kills_the_job_of_every_thread_and_the_process_goes_on(resqued, app_dir, r):
    w = threaded(resqued, app_dir, 2)
    wait_for(lambda: r.scard("resque:workers") == 2, 15, "registered")
    push(r, "default", "Hooks::Slow", "a", 60)
    push(r, "default", "Hooks::Slow", "b", 60)
    wait_for(lambda: len(events(r, "started:")) == 2, 15, "both jobs running")
    w.signal(signal.SIGUSR1)
    wait_for(lambda: r.llen("resque:failed") == 2, 10, "both jobs killed")
    recs = failures(r)
    assert {(f["exception"], f["error"]) for f in recs} == {
        ("resqued.worker.JobKilled", "job killed by USR1")
    }
    assert sorted(f["payload"]["args"][0] for f in recs) == ["a", "b"]
    assert sorted(events(r, "on_failure")) == ["on_failure:JobKilled:a", "on_failure:JobKilled:b"]
    push(r, "default", "Record", "next")
    wait_for(lambda: r.llen("record") == 1, 10, "the next job")
    assert ran_in(r) == [w.pid] and w.popen.poll() is None
    assert events(r, "finished") == []
    quit_(w)
    assert r.scard("resque:workers") == 0


def test_usr1_with_a_job_that_cannot_be_interrupted_replaces_the_process(resqued, app_dir, r):
    w = threaded(resqued, app_dir, 2)
    wait_for(lambda: r.scard("resque:workers") == 2, 15, "registered")
    push(r, "default", "Sleep", "blocked", 60)  # one time.sleep(60): no Python code to interrupt
    push(r, "default", "Hooks::Slow", "python", 60)
    wait_for(lambda: r.llen("started") == 1 and events(r, "started:"), 15, "both jobs running")
    w.signal(signal.SIGUSR1)
    assert w.wait(20) == 0  # exits to be replaced, without waiting for the blocked job
    by_job = {f["payload"]["args"][0]: f for f in failures(r)}
    assert set(by_job) == {"blocked", "python"}
    assert by_job["python"]["exception"] == "resqued.worker.JobKilled"
    assert by_job["python"]["error"] == "job killed by USR1"
    assert by_job["blocked"]["exception"] == "resqued.worker.JobKilled"
    assert "could not be interrupted" in by_job["blocked"]["error"]
    assert r.get("resque:stat:failed") == b"2"
    assert r.scard("resque:workers") == 0 and not r.keys("resque:worker:*")
    assert r.llen("finished") == 0 and r.llen("resque:queue:default") == 0


def test_term_interrupts_the_jobs_running_in_threads(resqued, app_dir, r):
    w = threaded(resqued, app_dir, 2, env={"RESQUE_TERM_TIMEOUT": "30"})
    wait_for(lambda: r.scard("resque:workers") == 2, 15, "registered")
    push(r, "default", "Hooks::Slow", "a", 60)
    push(r, "default", "Hooks::Slow", "b", 60)
    wait_for(lambda: len(events(r, "started:")) == 2, 15, "both jobs running")
    w.signal(signal.SIGTERM)
    assert w.wait(45) == 0  # every thread ended: nothing was left to kill
    recs = failures(r)
    assert {(f["exception"], f["error"]) for f in recs} == {
        ("resqued.worker.TermException", "SIGTERM")
    }
    assert sorted(events(r, "on_failure")) == [
        "on_failure:TermException:a",
        "on_failure:TermException:b",
    ]
    assert r.scard("resque:workers") == 0


def _down_redis_worker(resqued, app_dir, tmp_path):
    server = ExtraRedis(tmp_path)  # not started yet
    w = resqued(
        "work", "-r", "demo_jobs", "-q", "default", "-i", "1", "--threads", "2",
        "--redis", server.url, cwd=app_dir, env={"REDIS_URL": server.url}, redis=False,
    )  # fmt: skip
    wait_for(lambda: outage_lines(w), 15, "outage logged")
    return server, w


@pytest.mark.parametrize("sig", [signal.SIGQUIT, signal.SIGTERM, signal.SIGINT])
def test_a_threaded_worker_started_while_redis_is_down_obeys_quit_and_term(
    resqued, app_dir, tmp_path, sig
):
    server, w = _down_redis_worker(resqued, app_dir, tmp_path)
    w.signal(sig)
    assert w.wait(15) == 0
    assert "Traceback" not in w.output()


def test_a_threaded_worker_obeys_every_signal_while_redis_is_down(resqued, app_dir, tmp_path):
    server, w = _down_redis_worker(resqued, app_dir, tmp_path)
    try:
        for sig in (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):  # reopen, kill nothing, pause
            w.signal(sig)
        server.start()
        client = server.client()
        wait_for(lambda: client.scard("resque:workers") == 2, 15, "registered once Redis is up")
        wait_for(lambda: f"{PREFIX}: Paused" in titles(w.pid), 10, "paused by the USR2")
        push(client, "default", "Record", "x")
        assert client.llen("record") == 0
        w.signal(signal.SIGCONT)
        wait_for(lambda: client.llen("record") == 1, 15, "resumed")
        quit_(w)
        assert client.scard("resque:workers") == 0 and "Traceback" not in w.output()
    finally:
        server.stop()
