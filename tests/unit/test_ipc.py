"""The master <-> listener protocol: every message round-trips; bad lines are refused, not fatal."""

from __future__ import annotations

import json
import logging
import socket

import pytest

from resqued import ipc
from resqued.config.compat import Compat
from resqued.config.view import MasterView

VIEW = MasterView(workers=2, pool_size=2, sources=("a.py",), compat=Compat(title="x"))


@pytest.mark.parametrize(
    "message, line",
    [
        (ipc.Running(4), "RUNNING 4"),
        (ipc.Running(2, VIEW), f"RUNNING 2 {json.dumps(VIEW.to_dict(), separators=(',', ':'))}"),
        (ipc.Failed("cannot require 'app': boom"), "FAILED cannot require 'app': boom"),
        (ipc.WorkerStarted(4711, "high,low,*"), "+4711,high,low,*"),
        (ipc.WorkerExited(4711), "-4711"),
        (ipc.WorkerExited(4711, "killed by SIGKILL"), "-4711 killed by SIGKILL"),
        (ipc.Held(2), "HELD 2"),
        (ipc.Held(0), "HELD 0"),
        (ipc.Count(7), "COUNT 7"),
        (ipc.Relay("USR1"), "SIGNAL USR1"),
        (ipc.Relay("USR1", 4711), "SIGNAL USR1 4711"),
        (ipc.Next(), "NEXT"),
        (ipc.Retire(), "RETIRE"),
        (ipc.Retire(4711), "RETIRE 4711"),
    ],
)  # fmt: skip
def test_every_message_round_trips(message, line):
    assert ipc.encode(message) == line
    assert ipc.decode(line) == message


def test_running_reads_the_partial_view_of_earlier_releases():
    """A listener of the release before the typed view sent 8 keys; the rest keep defaults."""
    line = (
        'RUNNING 3 {"workers":3,"pool":2,"shutdown_timeout":20.0,"boot_timeout":300.0,'
        '"stdout_path":null,"stderr_path":"/var/log/r.log","sources":["conf.py"],'
        '"compat":{"title":"t","relay_signals":["USR1"],"user":"app","group":null}}'
    )
    message = ipc.decode(line)
    assert isinstance(message, ipc.Running) and message.view is not None
    view = message.view
    assert (view.workers, view.pool_size, view.shutdown_timeout) == (3, 2, 20.0)
    assert (view.stderr_path, view.sources, view.user) == ("/var/log/r.log", ("conf.py",), "app")
    assert view.compat.title == "t" and view.compat.relay_signals == ["USR1"]
    assert view.pidfile is None and view.namespace == "resque"


def test_a_reason_spanning_lines_stays_one_line():
    line = ipc.encode(ipc.Failed("first\nsecond\r\nthird"))
    assert "\n" not in line and ipc.decode(line) == ipc.Failed("first second third")


@pytest.mark.parametrize(
    "line",
    ["HELLO", "RUNNING", "RUNNING x", "RUNNING 2 {not json", "RUNNING 2 [1]",
     'RUNNING 2 {"sources": "a.py"}', 'RUNNING 2 {"workers": "many"}', "+12", "+abc,q",
     "-", "-x", "-1", "+0,q", "COUNT", "COUNT -1", "COUNT many", "SIGNAL USR1 x",
     "SIGNAL USR1 1", "SIGNAL KILL 4711", "HELD", "HELD -1", "HELD 1.5", "NEXT 3",
     "RETIRE x", "RETIRE 1", "RETIRE -5"],
)  # fmt: skip
def test_malformed_lines_are_refused(line):
    with pytest.raises(ipc.Malformed):
        ipc.decode(line)


def test_a_channel_drops_and_logs_malformed_lines(caplog):
    mine, theirs = socket.socketpair()
    channel = ipc.Channel(mine)
    theirs.sendall(b"+42,high\nGARBAGE \xff here\n-42\nRUNNING 1")  # the last line is incomplete
    with caplog.at_level(logging.WARNING, logger="resqued"):
        messages = channel.messages()
    assert messages == [ipc.WorkerStarted(42, "high"), ipc.WorkerExited(42)]
    assert "unknown message" in caplog.text
    theirs.sendall(b"\n")
    assert channel.messages() == [ipc.Running(1)]
    theirs.close()
    assert channel.messages() == [] and channel.closed
