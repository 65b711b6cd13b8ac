"""``resqued web``: starts, serves the dashboard and its JSON, stops with status 0; refuses
bad flags, an exposed address without a token, and a missing web extra, in one line each.
(The pages themselves are tested in a browser: test_dashboard_browser.py.)"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from support.browser import free_port
from support.cli import cli, cli_env
from support.fleet import push_failures, pyres_failure, register_worker
from support.procs import wait_for

TOKEN = "a-token-of-some-length"

# Makes the web extra's modules missing, as in an install without [web].
NO_WEB_EXTRA = """
import sys
class NoWebExtra:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("starlette", "uvicorn", "jinja2"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, NoWebExtra())
"""


class Web:
    def __init__(self, redis_url: str, tmp_path, *args: str) -> None:
        self.log = tmp_path / "web.out"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "resqued.cli", "web", *args],
            stdout=open(self.log, "wb"),  # noqa: SIM115 (the child holds it)
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=cli_env(redis_url),
        )

    def output(self) -> str:
        return self.log.read_text()

    def url(self) -> str:
        def said() -> str:
            assert self.proc.poll() is None, self.output()
            return next((x for x in self.output().splitlines() if x.startswith("resqued web:")), "")

        return said_url(wait_for(said, 20, "the dashboard's URL"))

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(20)


def said_url(line: str) -> str:
    return line.split()[2]


def get(url: str, token: str | None = None):
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status, resp.read().decode()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serves_on_loopback_and_stops_with_status_0(r, redis_url, tmp_path, sig):
    register_worker(r, "rubyhost:77:default", processed=3)
    push_failures(r, pyres_failure())
    port = free_port()
    web = Web(redis_url, tmp_path, "--bind", f"127.0.0.1:{port}")
    try:
        url = web.url()
        assert url == f"http://127.0.0.1:{port}/"
        assert f"(no token: loopback only; Redis {redis_url})" in web.output()
        status, page = get(url)
        assert status == 200 and "jobs.Mailer" in page  # the overview's recent failures
        assert "rubyhost" in get(url + "workers")[1]
        status, body = get(url + "api/fleet.json")
        doc = json.loads(body)
        assert doc["format"] == 1 and doc["workers"][0]["id"] == "rubyhost:77:default"
        assert doc["failures"][0]["exception"] == "ValueError"
    finally:
        assert web.stop(sig) == 0
    assert "Traceback" not in web.output()


def test_beyond_loopback_it_needs_a_token(r, redis_url, tmp_path):
    port = free_port()
    out = cli(redis_url, "web", "--bind", f"0.0.0.0:{port}")
    assert out.returncode == 1 and out.stderr.startswith(
        "resqued: refusing to serve the dashboard on 0.0.0.0 without a token"
    )
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o644)
    out = cli(redis_url, "web", "--bind", f"0.0.0.0:{port}", "--token-file", str(token_file))
    assert out.returncode == 1 and out.stderr == (
        f"resqued: token file {token_file} may be read or written by other users (mode 0644): "
        f"chmod 600 {token_file}\n"
    )
    token_file.chmod(0o640)  # a group of its own may read it: said, then served
    web = Web(redis_url, tmp_path, "--bind", f"0.0.0.0:{port}", "--token-file", str(token_file))
    try:
        url = web.url()
        assert url == f"http://127.0.0.1:{port}/" and "token required" in web.output()
        with pytest.raises(urllib.error.HTTPError) as refused:
            get(url + "api/fleet.json")
        assert refused.value.code == 401
        assert get(url + "api/fleet.json", TOKEN)[0] == 200
    finally:
        assert web.stop() == 0
    assert TOKEN not in web.output()
    assert "resqued: warning: token file" in web.output() and "(mode 0640)" in web.output()


@pytest.mark.parametrize(
    ("args", "env", "status", "cause"),
    [
        (["--token-file", "/no/such/file"], {}, 1, "cannot read token file /no/such/file"),
        ([], {"RESQUED_WEB_TOKEN": "short"}, 1, "the dashboard token is too short"),
        (["--bind", "127.0.0.1:99999"], {}, 1, "the port must be a number from 1 to 65535"),
        (["--token", TOKEN], {}, 2, "unrecognized arguments: --token"),
        (["--proxy-headers"], {}, 1, "refusing to serve the dashboard behind a proxy"),
        (["--external-url", "https://jobs.example/"], {}, 1, "behind a proxy"),
        (
            ["--forwarded-allow-ips", "10.0.0.0/8,nope"],
            {"RESQUED_WEB_TOKEN": TOKEN},
            1,
            "invalid --forwarded-allow-ips entry 'nope'",
        ),
        (
            ["--external-url", "jobs.example"],
            {"RESQUED_WEB_TOKEN": TOKEN},
            1,
            "invalid --external-url 'jobs.example'",
        ),
        (
            ["--redis", "redis://127.0.0.1:1/0"],
            {},
            1,
            "cannot reach Redis at redis://127.0.0.1:1/0",
        ),
    ],
)
def test_bad_input_is_one_line(redis_url, args, env, status, cause):
    out = cli(redis_url, "web", *args, **env)
    assert out.returncode == status and not out.stdout
    [line] = out.stderr.strip().splitlines()
    assert cause in line and "Traceback" not in out.stderr


def test_a_busy_port_is_one_line(redis_url, tmp_path):
    port = free_port()
    web = Web(redis_url, tmp_path, "--bind", f"127.0.0.1:{port}")
    try:
        web.url()
        out = cli(redis_url, "web", "--bind", f"127.0.0.1:{port}")
        assert out.returncode == 1
        assert (
            out.stderr.strip()
            == f"resqued: cannot listen on 127.0.0.1:{port}: Address already in use"
        )
    finally:
        web.stop()


def test_without_the_web_extra_it_says_what_to_install(redis_url, tmp_path):
    (tmp_path / "sitecustomize.py").write_text(NO_WEB_EXTRA)
    out = cli(redis_url, "web", PYTHONPATH=f"{tmp_path}:{cli_env(None)['PYTHONPATH']}")
    assert out.returncode == 1 and not out.stdout
    assert out.stderr == (
        "resqued: the dashboard needs the web extra (uvicorn is missing): "
        "pip install 'resqued[web]'\n"
    )
    assert cli(redis_url, "web", "--help", PYTHONPATH=str(tmp_path)).returncode == 0
