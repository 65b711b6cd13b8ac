"""`resqued work`, end to end: the real command, real signals, Redis state and job side effects."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support import ROOT
from support.procs import descendants, ps, wait_for
from support.redis_server import RedisServer

from resqued.version import __version__

HOOKED = """
import os, redis, resqued
r = redis.Redis.from_url(os.environ["REDIS_URL"])

@resqued.job("Hooked")
class Hooked:
    @staticmethod
    def perform(key, seconds):
        import time
        r.rpush("started", key)
        time.sleep(seconds)
        r.rpush("finished", key)

    @staticmethod
    def on_failure_note(exc, *args):
        r.rpush("on_failure", f"{type(exc).__name__}:{args[0]}")
"""


def push(r, queue: str, cls: str, *args) -> None:
    r.sadd("resque:queues", queue)
    r.rpush(f"resque:queue:{queue}", json.dumps({"class": cls, "args": list(args)}))


def failures(r) -> list[dict]:
    return [json.loads(x) for x in r.lrange("resque:failed", 0, -1)]


def titles(pid: int) -> list[str]:
    return [t for p, _, t in ps() if p == pid] + [t for _, _, t in descendants(pid)]


def work(resqued, app_dir, *args, env=None):
    return resqued("work", "-r", "demo_jobs", "-i", "1", *args, cwd=app_dir, env=env)


@pytest.mark.parametrize("mode", ["--fork", "--no-fork"])
def test_processes_jobs_and_keeps_resque_state(resqued, app_dir, r, mode):
    w = work(resqued, app_dir, "-q", "default", mode)
    wid = wait_for(lambda: [x.decode() for x in r.smembers("resque:workers")], 15, "registered")[0]
    host, pid, queues = wid.split(":")
    assert (pid, queues) == (str(w.pid), "default")
    wait_for(lambda: f"resque-{__version__}: Waiting for default" in titles(w.pid), 10, "title")
    push(r, "default", "Sleep", "s1", 1.5)
    wait_for(lambda: r.llen("started") == 1, 10, "job started")
    doing = json.loads(r.get(f"resque:worker:{wid}"))
    assert list(doing) == ["queue", "run_at", "payload"]
    assert doing["queue"] == "default" and doing["payload"] == {
        "class": "Sleep",
        "args": ["s1", 1.5],
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", doing["run_at"])
    assert any(
        re.fullmatch(rf"resque-{__version__}: Processing default since \d+ \[Sleep\]", t)
        for t in titles(w.pid)
    )
    ran_in = r.lrange("started", 0, -1)[0].decode().split(":")[1]
    assert (ran_in != str(w.pid)) == (mode == "--fork")  # a child per job, or the worker itself
    wait_for(lambda: r.llen("finished") == 1, 10, "job finished")
    wait_for(lambda: not r.exists(f"resque:worker:{wid}"), 10, "worker:<id> cleared")
    wait_for(lambda: r.get("resque:stat:processed") == b"1", 10, "processed counted")
    assert r.get(f"resque:stat:processed:{wid}") == b"1"
    w.signal(signal.SIGQUIT)
    assert w.wait(20) == 0
    assert not r.exists(
        "resque:workers", f"resque:worker:{wid}:started", f"resque:stat:processed:{wid}"
    )
    assert r.hlen("resque:workers:heartbeat") == 0


def test_queue_order_is_priority(resqued, app_dir, r):
    for n in range(3):
        push(r, "low", "Record", f"low{n}")
        push(r, "high", "Record", f"high{n}")
    w = work(resqued, app_dir, "-q", "high", "-q", "low", "--no-fork")
    wait_for(lambda: r.llen("record") == 6, 15, "all jobs")
    order = [x.decode().split(":")[0] for x in r.lrange("record", 0, -1)]
    assert order == ["high0", "high1", "high2", "low0", "low1", "low2"]
    w.signal(signal.SIGQUIT)


def test_patterns_are_expanded_on_every_reserve(resqued, app_dir, r):
    w = work(resqued, app_dir, "-q", "mail_*,!mail_spam", "--no-fork")
    wait_for(lambda: r.scard("resque:workers") == 1, 15, "registered")
    push(r, "mail_new", "Record", "new")  # a queue that did not exist at start
    push(r, "mail_spam", "Record", "spam")
    push(r, "other", "Record", "other")
    wait_for(lambda: r.llen("record") == 1, 15, "mail_new job")
    assert r.lrange("record", 0, -1)[0].startswith(b"new:")
    assert r.llen("resque:queue:mail_spam") == 1 and r.llen("resque:queue:other") == 1
    w.signal(signal.SIGQUIT)


def test_idle_worker_wakes_promptly(resqued, app_dir, r):
    w = resqued(
        "work", "-r", "demo_jobs", "-q", "default", "--no-fork", cwd=app_dir, env={"INTERVAL": "30"}
    )
    wait_for(lambda: "Waiting for default" in " ".join(titles(w.pid)), 15, "idle")
    push(r, "default", "Record", "x")
    wait_for(lambda: r.llen("record") == 1, 5, "job picked up long before INTERVAL=30")


def test_pause_all_workers(resqued, app_dir, r):
    r.set("resque:pause-all-workers", "true")
    w = work(resqued, app_dir, "-q", "default", "--no-fork")
    wait_for(lambda: "Paused" in " ".join(titles(w.pid)), 15, "paused title")
    push(r, "default", "Record", "x")
    r.delete("resque:pause-all-workers")
    wait_for(lambda: r.llen("record") == 1, 10, "resumed")
    assert r.llen("resque:queue:default") == 0


def test_quit_lets_the_current_job_finish(resqued, app_dir, r):
    w = work(resqued, app_dir, "-q", "default")
    push(r, "default", "Sleep", "q", 1.5)
    wait_for(lambda: r.llen("started") == 1, 15, "started")
    w.signal(signal.SIGQUIT)
    assert w.wait(20) == 0
    assert r.lrange("finished", 0, -1) == [b"q"]
    assert r.llen("resque:failed") == 0


def test_term_kills_the_child_and_records_dirty_exit(resqued, app_dir, r):
    (app_dir / "hooked_jobs.py").write_text(HOOKED)
    w = resqued("work", "-r", "hooked_jobs", "-q", "default", "-i", "1", cwd=app_dir)
    push(r, "default", "Hooked", "t", 30)
    wait_for(lambda: r.llen("started") == 1, 15, "started")
    w.signal(signal.SIGTERM)
    w.wait(20)
    [rec] = failures(r)
    assert rec["exception"] == "Resque::DirtyExit"
    assert "SIGKILL (signal 9)" in rec["error"]
    assert rec["payload"] == {"class": "Hooked", "args": ["t", 30]}
    assert r.lrange("on_failure", 0, -1) == [b"RuntimeError:t"]  # exactly once
    assert r.scard("resque:workers") == 0


def test_term_child_sends_term_first(resqued, app_dir, r):
    (app_dir / "hooked_jobs.py").write_text(HOOKED)
    w = resqued(
        "work",
        "-r",
        "hooked_jobs",
        "-q",
        "default",
        "-i",
        "1",
        cwd=app_dir,
        env={"TERM_CHILD": "1", "RESQUE_TERM_TIMEOUT": "5"},
    )
    push(r, "default", "Hooked", "t", 30)
    wait_for(lambda: r.llen("started") == 1, 15, "started")
    w.signal(signal.SIGTERM)
    w.wait(20)
    [rec] = failures(r)
    assert rec["exception"] == "resqued.worker.TermException"  # raised inside the job
    assert r.lrange("on_failure", 0, -1) == [b"TermException:t"]


def test_term_in_process_fails_the_job(resqued, app_dir, r):
    w = work(resqued, app_dir, "-q", "default", "--no-fork")
    push(r, "default", "Sleep", "t", 30)
    wait_for(lambda: r.llen("started") == 1, 15, "started")
    w.signal(signal.SIGTERM)
    w.wait(20)
    [rec] = failures(r)
    assert rec["exception"] == "resqued.worker.TermException" and rec["error"] == "SIGTERM"


def test_usr1_kills_the_job_and_keeps_working(resqued, app_dir, r):
    w = work(resqued, app_dir, "-q", "default")
    push(r, "default", "Sleep", "a", 30)
    wait_for(lambda: r.llen("started") == 1, 15, "started")
    w.signal(signal.SIGUSR1)
    wait_for(lambda: r.llen("resque:failed") == 1, 10, "killed job recorded")
    assert failures(r)[0]["exception"] == "Resque::DirtyExit"
    push(r, "default", "Record", "next")
    wait_for(lambda: r.llen("record") == 1, 10, "next job")
    assert w.popen.poll() is None


def test_usr2_pauses_and_cont_resumes(resqued, app_dir, r):
    w = work(resqued, app_dir, "-q", "default", "--no-fork")
    wait_for(lambda: r.scard("resque:workers") == 1, 15, "registered")
    w.signal(signal.SIGUSR2)
    wait_for(lambda: "Paused" in " ".join(titles(w.pid)), 10, "paused")
    push(r, "default", "Record", "x")
    assert r.llen("resque:queue:default") == 1
    w.signal(signal.SIGCONT)
    wait_for(lambda: r.llen("record") == 1, 10, "resumed")


def test_malformed_and_unknown_jobs_fail_and_the_worker_goes_on(resqued, app_dir, r):
    r.sadd("resque:queues", "default")
    for raw in (b"{not json", b"[1,2]", b'{"args":[1]}', b'{"class":"Nope","args":[]}'):
        r.rpush("resque:queue:default", raw)
    push(r, "default", "Record", "after")
    w = work(resqued, app_dir, "-q", "default")
    wait_for(lambda: r.llen("record") == 1, 15, "the good job after the bad ones")
    recs = failures(r)
    assert [f["exception"] for f in recs] == ["resqued.MalformedPayload"] * 3 + [
        "resqued.UnknownJobClass"
    ]
    assert [f["payload"]["args"][0] for f in recs[:3]] == ["{not json", "[1,2]", '{"args":[1]}']
    assert "not registered" in recs[3]["error"] and recs[3]["payload"]["class"] == "Nope"
    assert all(f["worker"] and f["queue"] == "default" for f in recs)
    assert r.get("resque:stat:failed") == b"4" and r.get("resque:stat:processed") == b"5"
    w.signal(signal.SIGQUIT)


def test_sigkill_of_the_job_child_is_a_dirty_exit(resqued, app_dir, r):
    w = work(resqued, app_dir, "-q", "default")
    push(r, "default", "Sleep", "k", 30)
    wait_for(lambda: r.llen("started") == 1, 15, "started")
    child = int(r.lrange("started", 0, -1)[0].decode().split(":")[1])
    assert child != w.pid
    subprocess.run(["kill", "-9", str(child)], check=True)
    wait_for(lambda: r.llen("resque:failed") == 1, 10, "dirty exit recorded")
    rec = failures(r)[0]
    assert rec["exception"] == "Resque::DirtyExit"
    assert f"pid {child} SIGKILL (signal 9)" in rec["error"]
    assert w.popen.poll() is None  # the worker goes on


def test_sigkill_of_an_in_process_worker_loses_nothing(resqued, app_dir, r):
    w = work(resqued, app_dir, "-q", "default", "--no-fork")
    push(r, "default", "Sleep", "lost?", 30)
    wait_for(lambda: r.llen("started") == 1, 15, "started")
    w.signal(signal.SIGKILL)
    w.wait(10)
    assert r.llen("resque:queue:default") == 0  # popped, and recorded in worker:<id>
    # the next worker on this host prunes the dead one: the job lands in failed
    work(resqued, app_dir, "-q", "other", "--no-fork")
    wait_for(lambda: r.llen("resque:failed") == 1, 15, "job failed by prune")
    rec = failures(r)[0]
    assert rec["exception"] == "Resque::DirtyExit"
    assert rec["payload"] == {"class": "Sleep", "args": ["lost?", 30]}
    assert rec["worker"].split(":")[1] == str(w.pid)


def test_jobs_per_fork_exits_after_n_jobs(resqued, app_dir, r):
    for n in range(5):
        push(r, "default", "Record", n)
    w = work(resqued, app_dir, "-q", "default", "--no-fork", "--jobs-per-fork", "3")
    assert w.wait(20) == 0
    assert r.llen("record") == 3 and r.llen("resque:queue:default") == 2


def test_redis_outage_is_retried_and_logged_once(resqued, app_dir, r, tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    url = server.url
    w = resqued(
        "work",
        "-r",
        "demo_jobs",
        "-q",
        "default",
        "-i",
        "1",
        "--no-fork",
        "--redis",
        url,
        cwd=app_dir,
        env={"REDIS_URL": url},
        redis=False,
    )
    wait_for(lambda: "started" in w.output(), 15, "worker up")
    server.stop()
    wait_for(lambda: "unavailable" in w.output(), 15, "outage logged")
    server.start()  # same port, empty data
    import redis as redis_py

    client = redis_py.Redis.from_url(url)
    push(client, "default", "Record", "after-outage")
    wait_for(lambda: client.llen("record") == 1, 20, "job after the outage")
    assert w.output().count("unavailable") == 1, w.output()
    assert "is back" in w.output()
    assert w.popen.poll() is None
    w.signal(signal.SIGQUIT)
    w.wait(20)
    server.stop()


@pytest.mark.parametrize("url", ["http://x", "redis://host:notaport/0", "redis://h/zero"])
def test_bad_redis_url_is_one_line(url):
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-m", "resqued.cli", "work", "--redis", url],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "invalid Redis URL" in lines[0], out.stderr
    assert "Traceback" not in out.stderr + out.stdout


def test_password_never_shows(resqued, app_dir, tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    import redis as redis_py

    redis_py.Redis(port=server.port).config_set("requirepass", "s3cr3tpw")
    url = f"redis://:s3cr3tpw@127.0.0.1:{server.port}/0"
    w = resqued(
        "work",
        "-q",
        "default",
        "-i",
        "1",
        "--redis",
        url,
        cwd=app_dir,
        env={"REDIS_URL": url},
        redis=False,
    )
    wait_for(lambda: "started" in w.output(), 15, "worker up")
    assert not any("s3cr3tpw" in t for t in titles(w.pid))
    assert Path(f"/proc/{w.pid}/cmdline").read_bytes().find(b"s3cr3tpw") == -1
    server.stop()  # an outage: its log line names the server, not the password
    wait_for(lambda: "unavailable" in w.output(), 15, "outage logged")
    assert "s3cr3tpw" not in w.output()
    w.kill()


def test_one_job_wakes_one_idle_worker(resqued, app_dir, r):
    """No thundering herd: idle workers wait with BLMOVE into their own hand-over list."""
    m = resqued("-n", "6", "-r", "demo_jobs", "--interval", "60", "--no-fork", cwd=app_dir)
    wait_for(lambda: r.scard("resque:workers") == 6, 20, "6 workers")
    wait_for(
        lambda: sum(1 for _, _, t in descendants(m.pid) if "Waiting for *" in t) == 6,
        10,
        "all idle",
    )
    push(r, "default", "Record", "warm-up")  # creates the queue, so every worker watches it
    wait_for(lambda: r.llen("record") == 1, 10, "first job")
    wait_for(lambda: r.info("clients")["blocked_clients"] >= 6, 10, "all blocked on default")
    r.config_resetstat()
    push(r, "default", "Record", "one")
    wait_for(lambda: r.llen("record") == 2, 10, "job done")
    wait_for(lambda: r.info("clients")["blocked_clients"] >= 6, 10, "blocked again")
    evals = sum(
        v["calls"] for k, v in r.info("commandstats").items() if k.startswith("cmdstat_eval")
    )
    assert evals <= 3, f"{evals} reserve calls for one job: idle workers stampeded"


def test_a_job_handed_to_a_dead_worker_goes_back_to_its_queue(resqued, app_dir, r):
    w = work(resqued, app_dir, "-q", "default", "--no-fork", env={"INTERVAL": "60"})
    wid = wait_for(lambda: [x.decode() for x in r.smembers("resque:workers")], 15, "registered")[0]
    wait_for(lambda: r.info("clients")["blocked_clients"] >= 1, 10, "idle wait")
    w.signal(signal.SIGSTOP)  # frozen: the wait below completes but the worker never claims
    try:
        push(r, "default", "Record", "handed-over")
        wait_for(lambda: r.llen(f"resque:resqued:inflight:{wid}:default") == 1, 10, "hand-over")
        assert r.llen("resque:queue:default") == 0
        w.signal(signal.SIGKILL)
        w.wait(10)
    finally:
        w.kill()
    work(resqued, app_dir, "-q", "other", "--no-fork")  # prunes the dead worker
    wait_for(lambda: r.llen("resque:queue:default") == 1, 15, "job back on its queue")
    assert r.llen("resque:failed") == 0  # it never started: requeued, not failed
    assert not r.exists(f"resque:resqued:inflight:{wid}:default")
