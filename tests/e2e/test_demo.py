"""The README's demo on a machine without redis-server: it falls back to the embedded Valkey.

``bash examples/demo/run.sh`` runs with a PATH from which redis-server and valkey-server
are absent, no stdin, and a deadline; it must exit 0 having processed its jobs, with its
dashboard answering at the URL it printed while it ran, and nothing left listening there.

The fresh-clone variants copy the repository without ``.venv``, so the demo creates its
own virtualenv and installs from PyPI (about a minute): they run when
``RESQUED_TEST_FRESH_DEMO=1`` (``bash .ci/run`` sets it).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest
from support import ROOT
from support.bare_path import SERVERS, path_without

FRESH = os.environ.get("RESQUED_TEST_FRESH_DEMO") == "1"
fresh_only = pytest.mark.skipif(
    not FRESH, reason="needs PyPI and about a minute: RESQUED_TEST_FRESH_DEMO=1 (bash .ci/run)"
)

# What the demo's jobs print, and what `resqued status` says once they ran.
PROCESSED = [
    "archived repo 100 as tar",
    "archived repo 101 as tar",
    "archived repo 102 as tar",
    "archived repo 200 as tar",
    "welcome mail to ada@example.com",
    "welcome mail to grace@example.com",
    "welcome mail to linus@example.com",
    "monthly report done after 5s",
    "flaky job 1 failed",
    "240 jobs done (6 failed) in ",
    "resqued: retried 6 failed jobs (class=Images::Resize)",
    "queues (3), 0 jobs pending",
    "processed 255, failed 7 (failed list 7); pending 0",
    "== stopping the dashboard",
    "== done",
]
DASHBOARD = re.compile(r"^== dashboard: (http://127\.0\.0\.1:(\d+)/) ")
PROGRESS = re.compile(r"^queued +\d+   working \d   processed +\d+   failed +\d+ +[\d.]+ jobs/s$")


class Demo:
    """The demo's output, read as it comes; the dashboard's answer fetched while it runs."""

    def __init__(self, popen: subprocess.Popen) -> None:
        self.popen = popen
        self.lines: list[str] = []
        self.dashboard: tuple[str, int, str] | None = None  # url, HTTP status, page
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()

    def read(self) -> None:
        for line in self.popen.stdout:
            self.lines.append(line)
            found = DASHBOARD.match(line)
            if found and self.dashboard is None:
                url = found.group(1)
                try:
                    with urllib.request.urlopen(url + "api/fleet.json", timeout=10) as resp:
                        self.dashboard = (url, resp.status, resp.read().decode())
                except OSError as exc:  # keep reading: the demo must not block on its pipe
                    self.dashboard = (url, 0, repr(exc))


def run_demo(repo: Path, tmp_path: Path, env: dict[str, str], timeout: float) -> str:
    """Run the demo headless with ``env`` added, no servers on the PATH; its output."""
    full_env = {**os.environ, **env, "PATH": path_without(SERVERS, tmp_path / "bin")}
    for name in ("REDIS_URL", "PYTHONPATH", "VIRTUAL_ENV", "RESQUED_TEST_SERVER"):
        full_env.pop(name, None)
    if "RESQUED_DEMO_VENV" not in env:
        full_env.pop("RESQUED_DEMO_VENV", None)  # the default: .venv in the clone
    popen = subprocess.Popen(
        ["bash", str(repo / "examples" / "demo" / "run.sh")],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=full_env,
    )
    demo = Demo(popen)
    try:
        status = popen.wait(timeout)
    finally:
        popen.kill()
        demo.reader.join(10)
    output = "".join(demo.lines)
    assert status == 0, output
    assert_dashboard(demo, output)
    return output


def assert_dashboard(demo: Demo, output: str) -> None:
    """The URL printed answered with the fleet while the demo ran, and is closed now."""
    assert demo.dashboard is not None, output
    url, status, body = demo.dashboard
    assert status == 200 and '"format":1' in body, f"{url}: {body}"
    port = int(url.rsplit(":", 1)[1].rstrip("/"))
    with pytest.raises(OSError):  # the demo stopped its dashboard
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def assert_processed(output: str) -> None:
    missing = [line for line in PROCESSED if line not in output]
    assert not missing, f"missing {missing} in:\n{output}"
    assert "Traceback" not in output, output
    assert any(PROGRESS.match(line) for line in output.splitlines()), output


def assert_embedded_valkey(output: str) -> None:
    [line] = [x for x in output.splitlines() if " on redis://127.0.0.1:" in x]
    assert line.startswith("== valkey ") and "embedded Valkey" in line, line


def test_demo_without_redis_server_on_path_uses_embedded_valkey(tmp_path):
    if sys.prefix == sys.base_prefix or not (Path(sys.prefix) / "bin" / "resqued").exists():
        pytest.skip("runs the demo in the test's own virtualenv, which must have resqued installed")
    output = run_demo(ROOT, tmp_path, {"RESQUED_DEMO_VENV": sys.prefix}, timeout=120)
    assert "creating" not in output  # used the given virtualenv
    assert_embedded_valkey(output)
    assert_processed(output)


def fresh_copy(tmp_path: Path) -> Path:
    """The repository's files as a fresh clone has them: no .venv, no caches."""
    repo = tmp_path / "clone"
    ignore = shutil.ignore_patterns(
        ".venv", ".git", "__pycache__", "*.egg-info", ".pytest_cache", ".ruff_cache", "build"
    )
    shutil.copytree(ROOT, repo, ignore=ignore)
    return repo


@fresh_only
def test_demo_from_a_fresh_clone_creates_its_venv(tmp_path):
    repo = fresh_copy(tmp_path)
    output = run_demo(repo, tmp_path, {}, timeout=400)
    assert "creating .venv" in output
    assert (repo / ".venv" / "bin" / "resqued").exists()
    assert_embedded_valkey(output)
    assert_processed(output)


NO_ENSUREPIP = """#!/bin/sh
# python3 as Debian ships it without python3-venv: `-m venv` leaves a venv without pip
# and fails, because ensurepip is not there.
if [ "$1" = -m ] && [ "$2" = venv ] && [ "$3" != --without-pip ]; then
  shift 2
  "{python}" -m venv --without-pip "$@"
  echo "The virtual environment was not created successfully because ensurepip is not available." >&2
  exit 1
fi
exec "{python}" "$@"
"""


@fresh_only
def test_demo_from_a_fresh_clone_without_ensurepip(tmp_path):
    repo = fresh_copy(tmp_path)
    shim = tmp_path / "python3-no-ensurepip"
    shim.write_text(NO_ENSUREPIP.format(python=sys._base_executable))
    shim.chmod(0o755)
    output = run_demo(repo, tmp_path, {"PYTHON3": str(shim)}, timeout=400)
    assert "creating .venv" in output
    assert (repo / ".venv" / "bin" / "resqued").exists()
    assert_embedded_valkey(output)
    assert_processed(output)
