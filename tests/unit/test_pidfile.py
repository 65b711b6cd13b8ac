"""The pidfile checks that need no signal: parsing, the master title, the start record.

Nothing here signals a process; tests that could are in e2e/test_pidfile_safety.py,
inside a private PID namespace.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from resqued.master import pidfile
from resqued.process.proc import ProcessHandle, start_ticks


@pytest.mark.parametrize(
    ("content", "pid"),
    [
        ("1234\n", 1234),
        ("  77  \n", 77),
        ("", None),
        ("\n\n", None),
        ("+15\n", 15),
        ("1\n", 1),  # a plausible pid; check() decides whether it is a master
        (f"{1 << 22}\n", 1 << 22),
    ],
)
def test_read(tmp_path, content, pid):
    path = tmp_path / "p.pid"
    path.write_text(content)
    assert pidfile.read(str(path)) == pid


def test_read_missing_file_is_none(tmp_path):
    assert pidfile.read(str(tmp_path / "missing.pid")) is None


@pytest.mark.parametrize(
    ("content", "cause"),
    [
        ("-1", "holds pid -1, which cannot be a resqued master"),
        ("0", "holds pid 0"),
        (str(1 << 63), "holds pid 9223372036854775808, which cannot be a pid"),
        ("9" * 40, "holds pid 99999999999999999999..., which cannot be a pid"),
        (str((1 << 22) + 1), "holds pid 4194305, which cannot be a pid (Linux gives none above"),
        ("abc", "does not hold a pid (it holds 'abc')"),
        ("12 13", "does not hold a pid"),
        ("1" * 100, "does not hold a pid"),
        ("4\n5\n", "does not hold a pid"),
    ],
)
def test_read_refuses_garbage_with_one_line(tmp_path, content, cause):
    path = tmp_path / "p.pid"
    path.write_text(content)
    with pytest.raises(pidfile.PidfileError) as info:
        pidfile.read(str(path))
    assert cause in str(info.value) and "\n" not in str(info.value)


@pytest.mark.timeout(10)
def test_read_refuses_a_fifo_without_blocking(tmp_path):
    path = tmp_path / "p.pid"
    os.mkfifo(path)
    with pytest.raises(pidfile.PidfileError, match="is not a regular file"):
        pidfile.read(str(path))
    os.mkfifo(tmp_path / "q.pid.start")  # nor does a FIFO beside a pidfile block
    (tmp_path / "q.pid").write_text(f"{os.getpid()}\n")
    assert pidfile.holder(str(tmp_path / "q.pid")).state == "foreign"


def test_pid_1_is_a_master_only_with_a_matching_start_record(tmp_path):
    path = tmp_path / "p.pid"
    path.write_text("1\n")
    found = pidfile.holder(str(path))
    assert found.state == "foreign"
    assert found.what == f"which cannot be a resqued master unless {path}.start records it"
    assert pidfile.check(1) is not None  # no pidfile, no record: never
    assert not pidfile.signal_master(1, 0)
    boot = open("/proc/sys/kernel/random/boot_id").read().strip()
    (tmp_path / "p.pid.start").write_text(f"1 {boot} {start_ticks(1)}\n")
    assert pidfile.holder(str(path)).state == "foreign"  # this pid 1 is no resqued master


@pytest.mark.parametrize(
    ("cmd", "master"),
    [
        (["resqued-0.1.0 master [gen 2] [4 workers] conf.py"], True),
        (["resqued-9.9 master"], True),
        (["resqued-0.1.0 master starting"], True),
        (["resqued-0.1.0 listener #2 1/1/1 running"], False),
        (["resque-0.1.0: Waiting for *"], False),
        (["/usr/bin/python3", "-m", "resqued.cli", "-n", "2"], True),
        (["/usr/bin/python3", "-m", "resqued.cli", "status"], False),
        (["/venv/bin/python3.11", "/venv/bin/resqued", "-c", "x.py"], True),
        (["/venv/bin/resqued", "-c", "x.py"], True),
        (["/venv/bin/resqued", "quit-and-wait", "p"], False),
        (["vim", "resqued"], False),
        (["sleep", "300"], False),
        ([], False),
    ],
)
def test_what_counts_as_a_resqued_master(cmd, master):
    assert pidfile._looks_like_master(cmd) is master


def test_check_names_what_the_process_is():
    why = pidfile.check(os.getpid())
    assert why is not None and "which is not a resqued master (it is " in why


def test_write_records_the_writer_and_remove_only_removes_ours(tmp_path):
    path = str(tmp_path / "m.pid")
    pidfile.write(path)
    assert open(path).read() == f"{os.getpid()}\n"
    pid, boot, ticks = open(path + ".start").read().split()
    assert int(pid) == os.getpid() and int(ticks) == start_ticks(os.getpid())
    pidfile.remove(path, pid=os.getpid() + 1)  # not ours: kept
    assert os.path.exists(path) and os.path.exists(path + ".start")
    pidfile.remove(path)
    assert not os.path.exists(path) and not os.path.exists(path + ".start")


def test_holder_states(tmp_path):
    path = tmp_path / "p.pid"
    assert pidfile.holder(str(path)).state == "none"
    gone = subprocess.Popen(["true"])
    gone.wait()
    path.write_text(f"{gone.pid}\n")
    assert pidfile.holder(str(path)).state == "gone"
    path.write_text(f"{os.getpid()}\n")
    found = pidfile.holder(str(path))
    assert found.state == "foreign" and found.pid == os.getpid()
    assert found.describe().startswith(f"pidfile {path} names pid {os.getpid()}, which is not")


def test_a_start_record_of_another_process_is_a_reused_pid(tmp_path):
    """Title right, start time wrong: a master that did not write this pidfile."""
    code = (
        "import setproctitle, sys, time; setproctitle.setproctitle('resqued-0.1.0 master x');"
        "print('ok', flush=True); sys.stdin.read()"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ok"
        path = str(tmp_path / "m.pid")
        pidfile.write(path, pid=proc.pid)
        assert pidfile.holder(path).state == "master"
        assert pidfile.running_master(path) == proc.pid
        with pytest.raises(pidfile.PidfileError):  # a second master on a live pidfile
            pidfile.write(path)
        boot = open("/proc/sys/kernel/random/boot_id").read().strip()
        open(path + ".start", "w").write(f"{proc.pid} {boot} 1\n")
        found = pidfile.holder(path)
        assert found.state == "foreign" and "the pid was reused" in found.what
        os.unlink(path + ".start")  # no record (an older resqued wrote it): the title decides
        assert pidfile.holder(path).state == "master"
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(10)


def test_process_handle_refuses_pid_one_and_below():
    for pid in (1, 0, -1):
        with pytest.raises(ValueError):
            ProcessHandle.open(pid)
    for pid in (0, -1):
        with pytest.raises(ValueError):
            ProcessHandle.open(pid, pid_one=True)


def test_process_handle_waits_on_a_child():
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    handle = ProcessHandle.open(proc.pid)
    assert handle is not None
    with handle:
        assert not handle.wait(0.05)
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(10)  # reaped: the pidfd reports the exit either way
        assert handle.wait(5)
        assert not handle.signal(15)
