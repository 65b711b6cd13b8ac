"""A worker and its Redis: outages, bad URLs, passwords."""

from __future__ import annotations

import json
import signal

import pytest
from support.cli import run
from support.jobs import push, wait_reserves, worker_ids
from support.procs import titles, wait_for
from support.redis_server import ExtraRedis
from support.worker import outage_lines, quit_


def test_worker_started_while_redis_is_down_waits_for_it(resqued, app_dir, tmp_path):
    server = ExtraRedis(tmp_path)
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
    try:
        wait_for(lambda: outage_lines(w), 15, "outage logged")
        assert w.popen.poll() is None
        server.start()
        client = server.client()
        wait_for(lambda: client.scard("resque:workers") == 1, 15, "registered once Redis is up")
        push(client, "default", "Record", "late")
        wait_for(lambda: client.llen("record") == 1, 15, "job after Redis came up")
        assert len(outage_lines(w)) == 1, w.output()
        assert "Traceback" not in w.output()
        quit_(w)
    finally:
        server.stop()


def test_redis_going_away_mid_run_is_retried_and_logged_once(resqued, app_dir, tmp_path):
    server = ExtraRedis(tmp_path)
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
    try:
        client = server.client()
        wait_for(lambda: client.scard("resque:workers") == 1, 15, "registered")
        push(client, "default", "Record", "before")
        wait_for(lambda: client.llen("record") == 1, 15, "job before the outage")
        server.stop()
        wait_for(lambda: outage_lines(w), 15, "outage logged")
        server.start()  # same port, empty data
        client = server.client()
        push(client, "default", "Record", "after")
        wait_for(lambda: client.llen("record") == 1, 20, "job after the outage")
        wait_for(lambda: client.get("resque:stat:processed") == b"1", 10, "counted")
        wait_reserves(client, 2)
        assert client.llen("record") == 1  # performed once, not handed back again and again
        assert len(outage_lines(w)) == 1, w.output()
        assert w.output().count("is back") == 1
        assert "Traceback" not in w.output()
        quit_(w)
    finally:
        server.stop()


def test_quit_while_redis_is_down_exits(resqued, app_dir, tmp_path):
    server = ExtraRedis(tmp_path)  # never started
    w = resqued(
        "work",
        "-r",
        "demo_jobs",
        "-q",
        "default",
        "-i",
        "1",
        "--redis",
        server.url,
        cwd=app_dir,
        env={"REDIS_URL": server.url},
        redis=False,
    )
    wait_for(lambda: outage_lines(w), 15, "outage logged")
    w.signal(signal.SIGQUIT)
    assert w.wait(10) == 0
    assert "Traceback" not in w.output()


@pytest.mark.parametrize(
    "url",
    [
        "http://x",
        "redis://host:notaport",
        "redis://host:notaport/0",
        "redis://:pw@h:99999/0",
        "redis://h/notadb",
        "redis://h/zero",
        "redis://",
    ],
)
def test_bad_redis_url_is_a_one_line_error(url):
    out = run("work", "--redis", url, timeout=30)
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "invalid Redis URL" in lines[0], out.stderr
    assert out.stdout == "" and "Traceback" not in out.stderr
    assert ":pw@" not in out.stderr


def test_password_never_in_logs_or_proctitles(resqued, app_dir, tmp_path):
    secret = "s3cr3t-PW-9"
    server = ExtraRedis(tmp_path, password=secret)
    server.start()
    url = server.url
    assert secret in url
    try:
        w = resqued(
            "work",
            "-r",
            "demo_jobs",
            "-q",
            "default",
            "-i",
            "1",
            "-v",
            "--redis",
            url,
            cwd=app_dir,
            env={"REDIS_URL": url},
            redis=False,
        )
        client = server.client()
        wait_for(lambda: client.scard("resque:workers") == 1, 15, "registered with the password")
        push(client, "default", "Sleep", "s", 1)
        wait_for(lambda: client.llen("started") == 1, 15, "job running")
        every = titles(w.pid)
        assert len(every) >= 2 and not any(secret in t for t in every), every
        for p in [w.pid] + [int(x.split(b":")[1]) for x in client.lrange("started", 0, -1)]:
            try:
                with open(f"/proc/{p}/cmdline", "rb") as f:
                    assert secret.encode() not in f.read()
            except FileNotFoundError:
                pass
        wait_for(lambda: client.llen("finished") == 1, 15, "job done")
        server.stop()
        wait_for(lambda: outage_lines(w), 15, "outage logged")
        assert "127.0.0.1" in outage_lines(w)[0]
        assert secret not in w.output()
    finally:
        server.stop()


@pytest.mark.parametrize("mode", [("--no-fork",), ("--fork",), ("--threads", "2")])
def test_workers_register_again_when_redis_restarted_empty(resqued, app_dir, tmp_path, mode):
    server = ExtraRedis(tmp_path)
    server.start()
    url = server.url
    w = resqued(
        "work", "-r", "demo_jobs", "-q", "default", "-i", "1", *mode,
        "--redis", url, cwd=app_dir, env={"REDIS_URL": url}, redis=False,
    )  # fmt: skip
    try:
        client = server.client()
        n = 2 if "--threads" in mode else 1
        wait_for(lambda: client.scard("resque:workers") == n, 15, "registered")
        ids = sorted(worker_ids(client))
        started = {wid: client.get(f"resque:worker:{wid}:started") for wid in ids}
        server.stop()
        wait_for(lambda: outage_lines(w), 15, "outage logged")
        server.start()  # same port, empty data
        client = server.client()
        wait_for(lambda: sorted(worker_ids(client)) == ids, 15, "registered again")
        for wid in ids:
            assert client.get(f"resque:worker:{wid}:started") == started[wid]
            assert client.hget("resque:workers:heartbeat", wid)
        status = run("status", "--json", "--redis", url, timeout=30)
        assert sorted(w["id"] for w in json.loads(status.stdout)["workers"]) == sorted(ids)
        push(client, "default", "Record", "after")
        wait_for(lambda: client.llen("record") == 1, 15, "a job after the restart")
        assert "registered again" in w.output() and "Traceback" not in w.output()
        quit_(w)
        assert client.scard("resque:workers") == 0
    finally:
        server.stop()
