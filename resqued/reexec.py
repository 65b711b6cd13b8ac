"""USR2: replace the master's image in place (same pid), keeping every listener and worker.

Before exec, a preflight runs the new code on the same command line with
``--test``; if it fails, the old image stays in control.  The master's state
(listeners, their sockets and workers) crosses the exec as versioned JSON in
an anonymous memory file whose descriptor is named by $RESQUED_STATE_FD.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from typing import Any

log = logging.getLogger("resqued")

STATE_ENV = "RESQUED_STATE_FD"
STATE_VERSION = 1
PREFLIGHT_TIMEOUT = 60.0
# Held back across the exec; the new image unblocks them once its handlers are in place.
BLOCKED = {
    signal.SIGHUP,
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGWINCH,
    signal.SIGTTIN,
    signal.SIGTTOU,
    signal.SIGCHLD,
}


def command(argv: list[str]) -> tuple[list[str], dict[str, str]]:
    """How to start the new image: same interpreter and arguments, without -D.

    A ``--redis`` URL moves into $REDIS_URL, so its password never shows in ``ps``.
    """
    args: list[str] = []
    env = {k: v for k, v in os.environ.items() if k != STATE_ENV}
    rest = iter(argv)
    for arg in rest:
        if arg in ("-D", "--daemonize"):
            continue
        if arg == "--redis":
            env["REDIS_URL"] = next(rest, "")
        elif arg.startswith("--redis="):
            env["REDIS_URL"] = arg.split("=", 1)[1]
        else:
            args.append(arg)
    return [sys.executable, "-m", "resqued.cli", *args], env


def preflight(argv: list[str]) -> str | None:
    """Run the new release's ``--test`` on our command line. None if it passed, else why not."""
    cmd, env = command(argv)
    try:
        result = subprocess.run(
            [*cmd, "--test"],
            capture_output=True,
            text=True,
            timeout=PREFLIGHT_TIMEOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"preflight could not run: {exc}"
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        return lines[-1] if lines else f"preflight exited {result.returncode}"
    return None


def exec_with_state(argv: list[str], state: dict[str, Any], fds: list[int]) -> None:
    """Exec the new image. Returns only if the exec failed (the caller keeps control)."""
    state = {"version": STATE_VERSION, **state}
    memfd = os.memfd_create("resqued-state", 0)  # not CLOEXEC: the new image reads it
    os.write(memfd, json.dumps(state).encode())
    for fd in fds:
        os.set_inheritable(fd, True)
    cmd, env = command(argv)
    env[STATE_ENV] = str(memfd)
    sys.stdout.flush()
    sys.stderr.flush()
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, BLOCKED)
    try:
        os.execve(cmd[0], cmd, env)
    except OSError as exc:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        os.close(memfd)
        for fd in fds:
            os.set_inheritable(fd, False)
        log.error("re-exec failed, keeping the running master: %s", exc)


def inherited_state() -> dict[str, Any] | None:
    """The state a previous image left us, or None on a fresh start."""
    fd_text = os.environ.pop(STATE_ENV, None)
    if fd_text is None:
        return None
    fd = int(fd_text)
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(fd)
    state = json.loads(b"".join(chunks))
    if state.get("version") != STATE_VERSION:
        raise ValueError(f"re-exec state version {state.get('version')} is not {STATE_VERSION}")
    return state


def unblock_signals() -> None:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, BLOCKED)
