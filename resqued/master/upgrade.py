"""USR2: replace the master's image in place (same pid), keeping every listener and worker.

Before exec, a preflight runs the new code on the same command line with
``--test`` (in a process of its own, while the master keeps serving signals;
the loop polls it through ``Upgrade``); if it fails, the old image stays in
control.  The master's state (``master/state.py``: listeners, their sockets
and workers, the config view, the counts) crosses the exec as versioned JSON
in an anonymous memory file whose descriptor is named by $RESQUED_STATE_FD.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import tempfile

from resqued.config.probe import DEFAULT_TIMEOUT as CHECK_TIMEOUT
from resqued.master.state import MasterState
from resqued.process.proc import Deadlined

log = logging.getLogger("resqued")

STATE_ENV = "RESQUED_STATE_FD"
# The preflight's own config check gives up after --boot-timeout (default 60 s,
# resqued/config/probe.py); the preflight as a whole gets this much more, for the
# new interpreter's start before its check (a release that hangs on import).
PREFLIGHT_SLACK = 5.0
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


def shown_command(argv: list[str]) -> str:
    """The command line without any Redis URL (it may hold a password), for titles and logs."""
    shown, skip = [], False
    for arg in argv:
        if skip or arg.startswith("--redis="):
            skip = False
            continue
        skip = arg == "--redis"
        if not skip:
            shown.append(arg)
    return " ".join(shown) or "defaults"


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


PREFLIGHT_ENV = "RESQUED_PREFLIGHT"


def check_deadline(argv: list[str]) -> float:
    """When ``resqued ... --test`` on ``argv`` gives its config check up: --boot-timeout or 60 s."""
    given = None
    for number, arg in enumerate(argv):
        if arg == "--boot-timeout" and number + 1 < len(argv):
            given = argv[number + 1]
        elif arg.startswith("--boot-timeout="):
            given = arg.partition("=")[2]
    try:
        return float(given) if given else CHECK_TIMEOUT
    except ValueError:  # the master refused it at start: not reached
        return CHECK_TIMEOUT


class Preflight:
    """The new release's ``resqued ... --test`` on our command line, run without blocking.

    With $RESQUED_PREFLIGHT set, ``--test`` also runs the config's ``before_exec``
    hooks (in that process, never in the master), and is strict: the new
    release's Redis must answer (a typo in its URL stops the upgrade).
    """

    def __init__(self, argv: list[str], cwd: str, timeout: float | None = None) -> None:
        cmd, env = command(argv)
        env[PREFLIGHT_ENV] = "1"
        env["PWD"] = cwd
        timeout = timeout or check_deadline(argv) + PREFLIGHT_SLACK
        self.out = tempfile.TemporaryFile()
        self.problem = ""
        self.child: Deadlined | None = None
        try:
            self.child = Deadlined(
                [*cmd, "--test"],
                timeout,
                stdout=self.out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=cwd,
            )
        except OSError as exc:
            self.problem = f"preflight could not run: {exc}"
        self.exited = os.pidfd_open(self.child.pid) if self.child else -1

    def fileno(self) -> int:
        """Readable once the preflight process has exited (a pidfd)."""
        return self.exited

    def owns(self, pid: int) -> bool:
        return self.child is not None and self.child.pid == pid

    def reaped(self, status: int) -> None:
        """Its exit status, when someone else's ``waitpid`` got it (the master reaps all)."""
        if self.child is not None:
            self.child.reaped(status)

    def poll(self) -> str | None:
        """None while it runs; "" when it passed; otherwise why the new release cannot start."""
        if self.child is None:
            return self.problem
        try:
            code = self.child.poll()
        except TimeoutError as exc:
            return f"preflight {exc}"
        if code is None:
            return None
        if self.exited >= 0:
            os.close(self.exited)
            self.exited = -1
        if code == 0:
            return ""
        self.out.seek(0)
        lines = self.out.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else f"preflight exited {code}"

    def kill(self) -> None:
        """End the preflight and whatever it started (its own session)."""
        if self.child is not None:
            self.child.kill()


def exec_with_state(argv: list[str], state: MasterState, fds: list[int], cwd: str) -> None:
    """Exec the new image. Returns only if the exec failed (the caller keeps control)."""
    memfd = os.memfd_create("resqued-state", 0)  # not CLOEXEC: the new image reads it
    os.write(memfd, state.to_json().encode())
    for fd in fds:
        os.set_inheritable(fd, True)
    cmd, env = command(argv)
    env[STATE_ENV] = str(memfd)
    env["PWD"] = cwd
    sys.stdout.flush()
    sys.stderr.flush()
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, BLOCKED)
    try:
        os.chdir(cwd)  # through the operator's path: a switched symlink is followed
        os.execve(cmd[0], cmd, env)
    except OSError as exc:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        os.close(memfd)
        for fd in fds:
            os.set_inheritable(fd, False)
        log.error("re-exec failed, keeping the running master: %s", exc)


def inherited_state() -> MasterState | None:
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
    return MasterState.from_json(b"".join(chunks))


def unblock_signals() -> None:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, BLOCKED)


class Upgrade:
    """One USR2: a running preflight, then (if it passed) the exec with the master's state."""

    def __init__(self, argv: list[str], cwd: str) -> None:
        log.info("re-exec: checking that the new release starts")
        self.argv = argv
        self.cwd = cwd
        self.preflight = Preflight(argv, cwd)

    def fileno(self) -> int:
        """Readable when the preflight has exited; -1 when there is nothing to watch."""
        return self.preflight.fileno()

    def owns(self, pid: int) -> bool:
        return self.preflight.owns(pid)

    def exited(self, status: int) -> None:
        """The master's reaping found the preflight's exit status."""
        self.preflight.reaped(status)

    def poll(self) -> bool | None:
        """None while the preflight runs; False if it failed (logged); True if it passed."""
        problem = self.preflight.poll()
        if problem is None:
            return None
        if problem:
            log.error("re-exec cancelled, keeping the running master: %s", problem)
            return False
        return True

    def exec(self, state: MasterState, fds: list[int]) -> None:
        """Exec the new image with ``state``; returns only if the exec failed (logged)."""
        log.info("re-exec: handing over %d listener(s)", len(state.listeners))
        exec_with_state(self.argv, state, fds, self.cwd)

    def cancel(self) -> None:
        self.preflight.kill()
