"""Run a test's risky part inside a private PID namespace, where no host process can be hit.

A test that hands ``resqued`` a pidfile naming -1, 1 or a foreign process must
never run on the host: if the command under test were wrong, ``kill(-1, sig)``
as root would reach every process on the machine.  ``in_pid_namespace(code)``
runs ``code`` with ``unshare --pid --fork --kill-child --mount-proc``: the
script is pid 1 of a fresh namespace (with its own /proc), everything it
starts is inside, and everything dies with it.  The script ends by printing
one JSON line, which is returned.

Inside, ``from support.pidns import victim, resqued_cmd, ...`` gives the helpers
below.

``Pid1(cmd, ...)`` runs a command itself as pid 1 of a fresh namespace, as a
container's main process runs, and ``Pid1.run_inside(cmd)`` runs another
command in that namespace (``nsenter``), as ``docker exec`` or a Kubernetes
preStop hook does.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from support import ROOT

TESTS = Path(__file__).resolve().parent.parent
UNSHARE = ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc"]


@functools.cache
def unshare_works() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(
        [*UNSHARE, sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return probe.returncode == 0 and probe.stdout.strip() == "1"


def in_pid_namespace(code: str, env: dict[str, str] | None = None, timeout: float = 120) -> dict:
    """Run ``code`` (Python) as pid 1 of a new PID namespace; return its last line as JSON."""
    if not unshare_works():
        pytest.skip("needs unshare --pid (root, or user namespaces); never run on the host")
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(ROOT), *env_paths(env)])
    done = subprocess.run(
        [*UNSHARE, sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise AssertionError(f"namespace script failed ({done.returncode}):\n{done.stderr}")
    return json.loads(lines[-1])


def env_paths(env: dict[str, str] | None) -> list[str]:
    extra = (env or {}).get("PYTHONPATH", "")
    return [p for p in extra.split(os.pathsep) if p]


class Pid1:
    """``cmd`` as pid 1 of a private PID namespace (a container's main process).

    The namespace ends with it: when pid 1 exits, Linux kills whatever else runs
    inside; killing ``unshare`` (``kill()``) takes pid 1 along (``--kill-child``).
    """

    def __init__(self, cmd: list[str], cwd: Path, env: dict[str, str], log: Path) -> None:
        if not unshare_works() or not shutil.which("nsenter"):
            pytest.skip("needs unshare --pid and nsenter (root); never run on the host")
        self.log = log
        with open(log, "wb") as out:
            self.popen = subprocess.Popen(
                [*UNSHARE, *cmd],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=cwd,
                env=env,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def host_pid(self) -> int:
        """The pid the host sees for the namespace's pid 1 (the child of ``unshare``)."""
        from support.procs import ps

        children = [pid for pid, ppid, _ in ps() if ppid == self.popen.pid]
        if len(children) != 1:
            raise AssertionError(f"pid 1 of the namespace not found: {children}")
        return children[0]

    def run_inside(self, cmd: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
        """Run ``cmd`` in the namespace (its pids, its /proc) to its end."""
        return subprocess.run(
            ["nsenter", "--target", str(self.host_pid()), "--pid", "--mount", "--", *cmd],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def wait(self, timeout: float = 30) -> int:
        """pid 1's exit status (``unshare`` exits with it)."""
        return self.popen.wait(timeout)

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(10)


# -- helpers for the script inside the namespace ---------------------------------------


def inside() -> None:
    """Stop at once unless this really is pid 1 of a private namespace."""
    if os.getpid() != 1:
        raise SystemExit("refusing to run outside a private PID namespace")


def victim() -> subprocess.Popen:
    """An unrelated process (``sleep``) that must survive whatever the test does."""
    inside()
    return subprocess.Popen(["sleep", "300"])


def impostor(title: str) -> subprocess.Popen:
    """A process whose title looks like a resqued master's; exits 0 on QUIT."""
    inside()
    code = (
        "import signal, sys, time, setproctitle\n"
        f"setproctitle.setproctitle({title!r})\n"
        "signal.signal(signal.SIGQUIT, lambda *a: sys.exit(0))\n"
        "print('ready', flush=True)\n"
        "time.sleep(300)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def resqued_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "resqued.cli", *args]


def run_resqued(*args: str, timeout: float = 60) -> dict:
    """Run a resqued command to its end: {"rc", "stdout", "stderr"}."""
    inside()
    done = subprocess.run(
        resqued_cmd(*args),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return {"rc": done.returncode, "stdout": done.stdout, "stderr": done.stderr}


def running(proc: subprocess.Popen) -> bool:
    return proc.poll() is None


def until(cond, timeout: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    """Poll ``cond`` until it is true or the deadline passes (a wait inside the script)."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)  # polling step inside a deadline
    return True


def report(**result: object) -> None:
    print(json.dumps(result), flush=True)
