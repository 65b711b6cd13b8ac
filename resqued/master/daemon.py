"""``-D``: detach with python-daemon; the launching command waits until the master runs.

The launcher forks; the child opens a ``daemon.DaemonContext`` (double fork,
new session, stdio on /dev/null) and runs the master, which writes ``ok`` on a
pipe once it is up -- or the error that stopped it.  The launcher exits 0 on
``ok`` and 1, printing the reason, otherwise.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import daemon as python_daemon  # type: ignore[import-untyped]

from resqued.errors import ResquedError
from resqued.process.redact import redact

_ready_fd = -1


def notify_ready() -> None:
    """Tell the launching command the master is running (no-op when not daemonized)."""
    global _ready_fd
    if _ready_fd >= 0:
        try:
            os.write(_ready_fd, b"ok\n")
        finally:
            os.close(_ready_fd)
            _ready_fd = -1


def report_failure(message: str) -> None:
    """Tell the launching command why the master could not start (no-op when not daemonized)."""
    global _ready_fd
    if _ready_fd >= 0:
        try:
            os.write(_ready_fd, redact(message).encode(errors="replace") + b"\n")
        except OSError:
            pass
        os.close(_ready_fd)
        _ready_fd = -1


def run_detached(serve: Callable[[], int]) -> int:
    """Run ``serve`` in a daemon; return 0 once it reported ready, else 1 with its reason."""
    global _ready_fd
    read_fd, write_fd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid > 0:
        os.close(write_fd)
        chunks = []
        while chunk := os.read(read_fd, 4096):
            chunks.append(chunk)
        os.close(read_fd)
        os.waitpid(pid, 0)
        answer = b"".join(chunks).decode(errors="replace").strip()
        if answer == "ok":
            return 0
        print(f"resqued: {answer or 'the master exited before it was running'}", file=sys.stderr)
        return 1
    os.close(read_fd)
    code = 1
    try:
        context = python_daemon.DaemonContext(
            working_directory=os.getcwd(),
            umask=0o022,
            files_preserve=[write_fd],
            signal_map={},
            prevent_core=False,
            detach_process=True,  # also under pid 1 or a socket on stdin (containers, inetd)
        )
        with context:
            _ready_fd = write_fd
            try:
                code = serve()
            except ResquedError as exc:
                report_failure(str(exc))
                code = 1
            except BaseException as exc:  # noqa: BLE001
                report_failure(f"master crashed: {type(exc).__name__}: {exc}")
                raise
    finally:
        os._exit(code)
