"""Every Redis URL form, against real servers (issue 8, defect 4), and failing fast on a no.

Jobs go through ``resqued work`` and a master: the worker reserves with the pool
and waits idle on ``Store.dedicated_connection()``, so a job pushed while it
waits proves both connections work for the form.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from support.cli import run
from support.jobs import push
from support.procs import wait_for
from support.redis_forms import TlsRedis, UnixRedis, add_acl_user
from support.redis_server import RedisServer

# Characters a password may hold that a URL must percent-encode.
AWKWARD = "p/a@s%s:w#o?r d"


def done_keys(path: Path) -> list[str]:
    return (
        sorted(line.split()[0] for line in path.read_text().splitlines()) if path.exists() else []
    )


def flow(resqued, app_dir: Path, client, url: str, master: bool = False) -> None:
    """Push jobs before and while the worker waits idle; all run once, then QUIT."""
    out = app_dir / "done.txt"
    push(client, "default", "FileRecord", str(out), "first")
    args = ("-n", "1", "--queue", "default") if master else ("work", "-q", "default", "-i", "1")
    proc = resqued(*args, "-r", "file_jobs", "--redis", url, cwd=app_dir, redis=False)
    wait_for(lambda: done_keys(out) == ["first"], 20, "the first job")
    wait_for(lambda: client.scard("resque:workers") == 1, 10, "the worker registered")
    wait_for(lambda: _blocked(client), 10, "the worker waiting idle (BLMOVE)")
    push(client, "default", "FileRecord", str(out), "second")
    wait_for(lambda: done_keys(out) == ["first", "second"], 20, "the job pushed while idle")
    assert client.llen("resque:failed") == 0
    proc.signal(signal.SIGQUIT)
    assert proc.wait(20) == 0, proc.output()


def _blocked(client) -> bool:
    return int(client.info("clients").get("blocked_clients", 0)) >= 1


@pytest.fixture
def unix_server(tmp_path):
    server = UnixRedis(tmp_path, password=AWKWARD)
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize("master", [False, True])
def test_unix_socket_with_password_and_db(resqued, app_dir, unix_server, master):
    client = unix_server.client()
    db3 = redis.Redis(port=unix_server.port, password=AWKWARD, db=3)
    url = f"unix://:{quote(AWKWARD, safe='')}@{unix_server.socket}?db=3"
    flow(resqued, app_dir, db3, url, master=master)
    assert client.dbsize() == 0  # everything went to db 3


def test_unix_socket_with_password_in_the_query(resqued, app_dir, unix_server):
    db2 = redis.Redis(port=unix_server.port, password=AWKWARD, db=2)
    url = f"unix://{unix_server.socket}?db=2&password={quote(AWKWARD, safe='')}"
    flow(resqued, app_dir, db2, url)


def test_percent_encoded_password_with_slash_at_and_percent(resqued, app_dir, tmp_path):
    server = RedisServer(tmp_path, password=AWKWARD)
    server.start()
    try:
        url = f"redis://:{quote(AWKWARD, safe='')}@127.0.0.1:{server.port}/0"
        flow(resqued, app_dir, server.client(), url, master=True)
    finally:
        server.stop()


def test_acl_user(resqued, app_dir, tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    try:
        admin = server.client()
        add_acl_user(admin, "jobs", "jobs-secret/1")
        admin.execute_command("ACL", "SETUSER", "default", "off")
        url = f"redis://jobs:{quote('jobs-secret/1', safe='')}@127.0.0.1:{server.port}/0"
        jobs = redis.Redis(port=server.port, username="jobs", password="jobs-secret/1")
        flow(resqued, app_dir, jobs, url)
        wrong = f"redis://jobs:nope@127.0.0.1:{server.port}/0"
        for args in (["status"], ["pause", "--all"], ["work", "-i", "1"]):
            out = run_cli(*args, "--redis", wrong)
            assert out.returncode == 1
            [line] = out.stderr.strip().splitlines()
            assert "refused the user name or password" in line and "nope" not in line
    finally:
        server.stop()


@pytest.mark.parametrize("verify", ["full", "none"])
def test_tls(resqued, app_dir, tmp_path, verify):
    server = TlsRedis(tmp_path)
    server.start()
    try:
        c = server.certs
        if verify == "full":  # the server's certificate checked, and ours presented
            query = (
                f"ssl_ca_certs={c['ca.crt']}&ssl_certfile={c['client.crt']}"
                f"&ssl_keyfile={c['client.key']}&ssl_cert_reqs=required"
            )
        else:
            query = "ssl_cert_reqs=none"
        url = f"rediss://127.0.0.1:{server.tls_port}/0?{query}"
        flow(resqued, app_dir, server.client(), url, master=verify == "full")
        out = run_cli("status", "--redis", url)
        assert out.returncode == 0 and "processed 2" in out.stdout
    finally:
        server.stop()


def test_tls_with_an_unknown_ca_fails_with_one_line(tmp_path):
    server = TlsRedis(tmp_path)
    server.start()
    try:
        out = run_cli("status", "--redis", f"rediss://127.0.0.1:{server.tls_port}/0")
        assert out.returncode == 1
        [line] = out.stderr.strip().splitlines()
        assert "cannot reach Redis" in line and "certificate" in line.lower()
    finally:
        server.stop()


@pytest.mark.parametrize(
    "args", [["status"], ["pause", "--all"], ["resume", "--all"], ["work", "-i", "1"]]
)
def test_wrong_password_fails_fast_with_one_line(tmp_path, args):
    server = RedisServer(tmp_path, password="right-password")
    server.start()
    try:
        out = run_cli(*args, "--redis", f"redis://:wrong%2Fpass@127.0.0.1:{server.port}/0")
        assert out.returncode == 1, out
        [line] = out.stderr.strip().splitlines()
        assert line.startswith("resqued: Redis at redis://:***@127.0.0.1:")
        assert "refused the user name or password" in line
        assert "wrong" not in line
        assert server.client().get("resque:pause-all-workers") is None
    finally:
        server.stop()


def test_no_password_where_one_is_needed_fails_fast(tmp_path):
    server = RedisServer(tmp_path, password="right-password")
    server.start()
    try:
        out = run_cli("work", "--redis", f"redis://127.0.0.1:{server.port}/0")
        assert out.returncode == 1
        [line] = out.stderr.strip().splitlines()
        assert "refused" in line and "Authentication required" in line
    finally:
        server.stop()


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return run(*args, timeout=30)


def test_a_database_the_server_does_not_have_is_refused_with_one_line(redis_server):
    """``/99`` beyond ``databases`` (16): --test and the start refuse it, as the commands do."""
    url = redis_server.url.rpartition("/")[0] + "/99"
    cause = "has no database 99 (beyond the server's 'databases' setting"
    for args in (["-n", "1", "--test"], ["status"], ["pause", "--all"], ["work", "-i", "1"]):
        out = run_cli(*args, "--redis", url)
        assert out.returncode == 1, (args, out)
        [line] = out.stderr.strip().splitlines()
        assert cause in line, (args, line)
    start = run_cli("-n", "1", "--redis", url)  # it used to run, its workers crash-looping
    assert start.returncode == 1, start
    assert "Traceback" not in start.stderr and "crashed" not in start.stderr, start.stderr
    [line] = [x for x in start.stderr.splitlines() if "ERROR: cannot start: " in x]
    assert cause in line, start.stderr


def test_sentinel_errors_are_one_short_line(resqued, app_dir, redis_server, tmp_path):
    """No Sentinel answers for the service: one line naming each Sentinel and its cause."""
    dead = RedisServer(tmp_path).port  # nobody listens there
    url = f"redis+sentinel://127.0.0.1:{dead},127.0.0.1:{redis_server.port}/mymaster/0"
    for args in (["status"], ["pause", "--all"], ["-n", "1", "--test"]):
        out = run_cli(*args, "--redis", url)
        assert out.returncode == 1, (args, out)
        [line] = out.stderr.strip().splitlines()
        assert "<redis" not in line and len(line) < 400, line
        assert "no Sentinel gave a primary for service 'mymaster'" in line, line
        assert f"127.0.0.1:{dead}: " in line and "refused" in line.lower(), line
        assert f"127.0.0.1:{redis_server.port}: unknown command 'SENTINEL'" in line, line
    w = resqued("work", "-i", "1", "--redis", url, cwd=app_dir, redis=False)  # keeps trying
    wait_for(lambda: "unavailable" in w.output(), 20, "the outage logged")
    lines = w.output().splitlines()
    assert not [x for x in lines if "<redis" in x or len(x) > 500], lines
    assert any("no Sentinel gave a primary for service 'mymaster'" in x for x in lines)
