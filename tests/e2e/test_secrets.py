"""No Redis password in any message, log line, title or /proc/*/cmdline (issue 8, defect 5)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from support.cli import cli_env, run
from support.procs import descendants, wait_for
from support.redis_server import RedisServer

SECRET = "Zq7/p@ss%w0rd"  # holds '/', '@' and '%'
ENCODED = quote(SECRET, safe="")
# Pieces of the password that must not show, whichever way a message cuts the URL.
PIECES = ["Zq7", "ss%w0rd", "p@ss", ENCODED, "w0rd"]

SPY = """
import json, os, sys
import setproctitle as _module

_first = []
_real = _module.setproctitle


def _spy(title):
    if not _first:
        _first.append(title)
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("resqued", "redis", "yaml"))
        with open(os.environ["SPY_OUT"], "w") as f:
            json.dump({"title": title, "loaded": loaded}, f)
    _real(title)


_module.setproctitle = _spy
"""


def no_secret(text: str) -> bool:
    return not any(piece in text for piece in PIECES)


@pytest.fixture
def secret_server(tmp_path):
    server = RedisServer(tmp_path / "redis", password=SECRET)
    server.dir.mkdir()
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize(
    "args",
    [
        ["-n", "1", "--redis", f"redis://:{ENCODED}@127.0.0.1:1/0", "--help"],
        ["work", "--redis", f"redis://:{ENCODED}@127.0.0.1:1/0", "--help"],
        ["status", "--redis", f"redis://:{ENCODED}@127.0.0.1:1/0", "--help"],
        ["quit-and-wait", "--help"],
    ],
)
def test_the_title_is_set_before_anything_else_is_loaded(tmp_path, args):
    """The title replaces the command line before redis-py (or any of our modules) loads."""
    (tmp_path / "sitecustomize.py").write_text(SPY)
    out = tmp_path / "spy.json"
    done = run(*args, path=str(tmp_path), env={"SPY_OUT": str(out)})
    assert done.returncode == 0, done.stderr
    seen = json.loads(out.read_text())
    assert seen["title"].startswith(("resqued-", "resque-")), seen
    assert set(seen["loaded"]) <= {
        "resqued",
        "resqued.version",
        "resqued.cli",
        "resqued.process",
        "resqued.process.proctitle",
    }


def test_a_password_in_argv_is_scrubbed_first_and_never_comes_back(
    resqued, app_dir, secret_server, tmp_path
):
    """Sample /proc/PID/cmdline from the moment the master is spawned until its workers run."""
    url = f"redis://:{ENCODED}@127.0.0.1:{secret_server.port}/0"
    pidfile = tmp_path / "m.pid"
    log = tmp_path / "m.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "resqued.cli", "-n", "1", "-p", str(pidfile), "--redis", url],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=app_dir,
            env=cli_env(None, path=str(app_dir)),
            start_new_session=True,
        )
    samples: list[tuple[bool, bool]] = []  # (password shown, the master had started work)
    try:
        while "is ready" not in log.read_text(errors="replace"):
            started = pidfile.exists() or log.stat().st_size > 0
            cmdline = _cmdline(proc.pid)
            if cmdline:  # empty until the exec is through
                samples.append((not no_secret(cmdline), started))
            assert proc.poll() is None, log.read_text()
            assert len(samples) < 2_000_000, "the master never got ready"
        wait_for(lambda: len(descendants(proc.pid)) >= 2, 15, "the listener and its worker")
        tree = [proc.pid] + [pid for pid, _, _ in descendants(proc.pid)]
        for pid in tree:
            assert no_secret(_cmdline(pid)), pid
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    shown = [i for i, (secret, _) in enumerate(samples) if secret]
    first_clean = next(i for i, (secret, _) in enumerate(samples) if not secret)
    assert all(i < first_clean for i in shown), "the password came back after the scrub"
    assert not any(secret and started for secret, started in samples)
    assert no_secret(log.read_text())
    print(f"\n{len(samples)} samples, {len(shown)} before the title was set")


@pytest.mark.parametrize("how", ["url-file", "env"])
def test_ways_that_never_put_the_password_on_a_command_line(
    resqued, app_dir, secret_server, tmp_path, how
):
    url = f"redis://:{ENCODED}@127.0.0.1:{secret_server.port}/0"
    if how == "url-file":
        (tmp_path / "redis-url").write_text(url + "\n")
        args, env = ["--redis-url-file", str(tmp_path / "redis-url")], {}
    else:
        args, env = [], {"REDIS_URL": url}
    master = resqued("-n", "1", *args, env=env, cwd=app_dir, redis=False)
    worker = resqued("work", "-i", "1", *args, env=env, cwd=app_dir, redis=False)
    client = secret_server.client()
    seen: set[int] = set()

    def everyone_checked() -> bool:
        for root in (master.pid, worker.pid):
            for pid in [root] + [p for p, _, _ in descendants(root)]:
                assert no_secret(_cmdline(pid)), (pid, _cmdline(pid))
                seen.add(pid)
        return client.scard("resque:workers") == 2 and len(seen) >= 4

    wait_for(everyone_checked, 30, "both workers registered, every command line checked")
    assert no_secret(master.output() + worker.output())


@pytest.mark.parametrize(
    "url",
    [
        f"redis://:{SECRET}@127.0.0.1:6379/0",  # '/' unencoded: the URL cannot parse
        f"redis://:{ENCODED}@127.0.0.1:99999/0",
        f"redis://:{ENCODED}@127.0.0.1/notadb",
        f"http://:{SECRET}@127.0.0.1/0",
        f"redis://:{ENCODED}@127.0.0.1:6379/0?frobnicate=1",
        f"redis+sentinel://:{SECRET}@127.0.0.1:26379/mymaster/0",
        f"unix://:{SECRET}@",
        f"redis:/:{SECRET}@127.0.0.1:6379/0",  # no '://': nothing tells the password apart
        f"redis:/:{ENCODED}@127.0.0.1:6379/0",
        f":{ENCODED}@127.0.0.1:6379",
        f"{SECRET}@127.0.0.1",
        SECRET,  # a bare password where the URL belongs
        f"{SECRET}://127.0.0.1:6379/0",  # a password taken for a scheme
    ],
)
@pytest.mark.parametrize(
    ("command", "where"),
    [(c, w) for c in ("master", "status", "work") for w in ("flag", "env", "url-file")]
    + [("master", "config")],
)
def test_an_invalid_url_is_reported_without_its_password(tmp_path, url, where, command):
    args = {"master": ["-n", "1"], "status": ["status"], "work": ["work"]}[command]
    env: dict[str, str] = {}
    if where == "flag":
        args += ["--redis", url]
    elif where == "env":
        env["REDIS_URL"] = url
    elif where == "url-file":
        (tmp_path / "url").write_text(url)
        args += ["--redis-url-file", str(tmp_path / "url")]
    else:
        (tmp_path / "c.py").write_text(f"redis({url!r})\n")
        args += ["-c", str(tmp_path / "c.py")]
    done = run(*args, env=env)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "invalid Redis URL" in lines[0], done.stderr
    assert no_secret(done.stdout + done.stderr), done.stderr


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_outage_logs_never_show_a_password_holding_at(resqued, app_dir, tmp_path, fmt):
    """``redis://:ab@cdefgh@host`` parses (the last @ ends it); no log line shows any of it."""
    url = "redis://:ab@cdefgh@127.0.0.1:1/0"
    w = resqued("work", "-i", "1", "--log-format", fmt, "--redis", url, cwd=app_dir, redis=False)
    wait_for(lambda: "unavailable" in w.output(), 20, "the outage logged")
    out = w.output()
    assert "cdefgh" not in out and "ab@" not in out
    assert ":***@127.0.0.1:1/0" in out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("latin-1")
    except OSError:
        return ""
