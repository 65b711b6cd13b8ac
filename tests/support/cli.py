"""Run the real ``resqued`` command line: once to completion, or on a pseudo-terminal."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time

from support import ROOT


def cli_env(redis_url: str | None, path: str = "", **extra: str) -> dict[str, str]:
    """Our environment for a ``resqued`` command: this tree on PYTHONPATH (after ``path``),
    $REDIS_URL only when given (in ``redis_url`` or ``extra``), no terminal size, no token."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (path, str(ROOT)) if p)
    for name in ("COLUMNS", "LINES", "RESQUED_WEB_TOKEN", "RESQUE_NAMESPACE", "REDIS_URL"):
        env.pop(name, None)
    env.update(extra)
    if redis_url is not None:
        env["REDIS_URL"] = redis_url
    return env


def run(
    *args: str,
    redis_url: str | None = None,
    cwd: str | os.PathLike[str] | None = None,
    path: str = "",
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """``resqued ARGS`` run to its end with stdin not a terminal; its output as text.

    The environment is ``cli_env``'s: ``path`` goes first on PYTHONPATH (an app),
    ``env`` is set over it.
    """
    return subprocess.run(
        [sys.executable, "-m", "resqued.cli", *args],
        capture_output=True,
        text=True,
        env=cli_env(redis_url, path, **(env or {})),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
    )


def cli(redis_url: str | None, *args: str, timeout: float = 60, **extra: str):
    """``run(*args)`` with $REDIS_URL (or none) and ``extra`` environment variables."""
    return run(*args, redis_url=redis_url, env=extra, timeout=timeout)


class Terminal:
    """``resqued ARGS`` with a pseudo-terminal of ROWS x COLS as stdin, stdout and stderr."""

    def __init__(self, redis_url: str, *args: str, rows: int = 50, cols: int = 160) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "resqued.cli", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=cli_env(redis_url),
            start_new_session=True,
        )
        os.close(slave)
        self.fd = master
        self.output = b""

    def read_until(self, want: bytes, count: int = 1, timeout: float = 20.0) -> str:
        """Read until ``want`` was seen ``count`` times; all output so far, as text."""
        deadline = time.monotonic() + timeout
        while self.output.count(want) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {want!r}; got {self.output!r}")
            if not select.select([self.fd], [], [], min(left, 0.5))[0]:
                continue
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:  # EIO: the command exited and closed the terminal
                chunk = b""
            if not chunk:
                raise AssertionError(f"the command ended before {want!r}; got {self.output!r}")
            self.output += chunk
        return self.output.decode(errors="replace")

    def type(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def finish(self, timeout: float = 20.0) -> tuple[int, str]:
        """Wait for the exit status, reading what is left; (status, all output)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if select.select([self.fd], [], [], 0.2)[0]:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:
                    chunk = b""
                self.output += chunk
                if chunk:
                    continue
            if self.proc.poll() is not None:
                break
        status = self.proc.wait(max(0.1, deadline - time.monotonic()))
        return status, self.output.decode(errors="replace")

    def interrupt(self) -> None:
        self.proc.send_signal(signal.SIGINT)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        os.close(self.fd)
