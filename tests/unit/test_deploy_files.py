"""The files in deploy/: the systemd unit checked by systemd itself, and every file
consistent with the others (signals, pidfile, grace periods) and with docs/deployment.md."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from support import ROOT
from support.tools import needs

DEPLOY = ROOT / "deploy"
UNITS = ["resqued.service", "resqued-web.service"]
PIDFILE = "/run/resqued/resqued.pid"


def unit(name: str) -> configparser.ConfigParser:
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str  # type: ignore[assignment,method-assign]
    cp.read(DEPLOY / "systemd" / name)
    return cp


@pytest.mark.parametrize("name", UNITS)
def test_systemd_analyze_verify(name, tmp_path):
    tool = needs("systemd-analyze", "systemd")
    # verify checks that ExecStart exists: point it at this venv's resqued.
    text = (DEPLOY / "systemd" / name).read_text()
    resqued = Path(sys.executable).with_name("resqued")
    assert resqued.exists()
    (tmp_path / name).write_text(text.replace("/srv/app/venv/bin/resqued", str(resqued)))
    out = subprocess.run(
        [tool, "verify", f"./{name}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"},
    )
    # A bad key or value is only a warning (exit 0): any line about our unit fails.
    ours = [line for line in (out.stdout + out.stderr).splitlines() if name in line]
    assert out.returncode == 0 and not ours, out.stdout + out.stderr


def test_unit_matches_the_process_model():
    s = unit("resqued.service")["Service"]
    assert s["Type"] == "notify" and s["NotifyAccess"] == "main"
    assert s["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert s["KillSignal"] == "SIGQUIT"  # graceful: running jobs finish
    assert s["KillMode"] == "mixed"  # only the master gets QUIT; it stops the rest
    assert int(s["TimeoutStopSec"]) >= 60
    assert " -D" not in s["ExecStart"]  # systemd wants the master in the foreground
    assert f"-p {PIDFILE}" in s["ExecStart"] and s["RuntimeDirectory"] == "resqued"
    assert "USR2" in (DEPLOY / "systemd" / "resqued.service").read_text()


def test_container_files_stop_gracefully():
    dockerfile = (DEPLOY / "docker" / "Dockerfile").read_text()
    assert "\nSTOPSIGNAL SIGQUIT\n" in dockerfile
    assert '"-p", "/tmp/resqued.pid"' in dockerfile
    compose = yaml.safe_load((DEPLOY / "docker" / "compose.yml").read_text())
    workers = compose["services"]["workers"]
    assert workers["stop_signal"] == "SIGQUIT" and workers["stop_grace_period"] == "120s"
    web = compose["services"]["web"]
    assert web["ports"] == ["127.0.0.1:5678:5678"]
    assert "RESQUED_WEB_TOKEN" in web["environment"]  # it binds 0.0.0.0 in its container
    assert web["command"][:2] == ["resqued", "web"]


def test_kubernetes_prestop_fits_the_grace_period():
    docs = list(yaml.safe_load_all((DEPLOY / "kubernetes" / "resqued.yaml").read_text()))
    workers = next(d for d in docs if d["metadata"]["name"] == "resqued")
    spec = workers["spec"]["template"]["spec"]
    container = spec["containers"][0]
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[:2] == ["resqued", "quit-and-wait"]
    command = container["command"]
    assert pre_stop[2] == command[command.index("-p") + 1]  # the same pidfile
    grace = int(pre_stop[pre_stop.index("--grace-period") + 1])
    assert 0 < grace < spec["terminationGracePeriodSeconds"]
    web = next(d for d in docs if d["metadata"]["name"] == "resqued-web")
    env = web["spec"]["template"]["spec"]["containers"][0]["env"]
    assert "RESQUED_WEB_TOKEN" in [e["name"] for e in env]


def test_logrotate_sends_usr1_to_the_units_pidfile(tmp_path):
    text = (DEPLOY / "logrotate" / "resqued").read_text()
    assert f'kill -USR1 "$(cat {PIDFILE})"' in text
    rules = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    assert not any("copytruncate" in line for line in rules)  # USR1 reopens instead
    tool = shutil.which("logrotate")
    if tool:  # its own syntax check, when installed
        out = subprocess.run(
            [
                tool,
                "--debug",
                "--state",
                str(tmp_path / "state"),
                str(DEPLOY / "logrotate" / "resqued"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0 and "error" not in out.stderr.lower(), out.stderr


def test_deployment_docs_point_at_every_file():
    docs = (ROOT / "docs" / "deployment.md").read_text()
    for path in sorted(DEPLOY.rglob("*")):
        if path.is_file():
            assert str(path.relative_to(ROOT)) in docs, path
