"""A pidfile is never trusted blindly (issue 8, defect 1).

Every test that hands a command a pidfile naming -1, 1 or a process that is
not ours runs inside a private PID namespace (``support.pidns``): a wrong
``kill`` there reaches only the namespace's own processes, never the host.
"""

from __future__ import annotations

import os
import signal
import stat

import pytest
from support.pidns import in_pid_namespace

BAD_CONTENTS = ["-1", "0", "1", "-42", "abc", "12abc", "1 2", "9" * 80, "\x00\x01garbage"]

PRELUDE = """
import json, os, sys
from support.pidns import (
    impostor, report, resqued_cmd, run_resqued, running, until, victim,
)
"""


def one_line(result: dict) -> str:
    lines = result["stderr"].strip().splitlines()
    assert len(lines) == 1, result
    assert "Traceback" not in result["stderr"]
    return lines[0]


@pytest.mark.parametrize("content", BAD_CONTENTS)
def test_quit_and_wait_refuses_a_pidfile_without_a_plausible_pid(tmp_path, content):
    path = tmp_path / "bad.pid"
    path.write_bytes(content.encode())
    out = in_pid_namespace(
        PRELUDE
        + f"""
bystander = victim()
result = run_resqued("quit-and-wait", {str(path)!r}, "--grace-period", "1")
report(result=result, bystander_alive=running(bystander))
"""
    )
    assert out["bystander_alive"], "quit-and-wait signalled a process it must not touch"
    assert out["result"]["rc"] == 2
    line = one_line(out["result"])
    assert str(path) in line and ("cannot be a resqued master" in line or "does not hold" in line)


def test_quit_and_wait_on_an_empty_pidfile_finds_no_master(tmp_path):
    path = tmp_path / "empty.pid"
    path.write_text("\n")
    out = in_pid_namespace(
        PRELUDE + f"report(result=run_resqued('quit-and-wait', {str(path)!r}))\n"
    )
    assert out["result"]["rc"] == 0 and "no master running" in out["result"]["stdout"]


def test_quit_and_wait_never_signals_a_process_that_is_not_a_resqued_master(tmp_path):
    path = tmp_path / "stale.pid"
    out = in_pid_namespace(
        PRELUDE
        + f"""
bystander = victim()
open({str(path)!r}, "w").write(f"{{bystander.pid}}\\n")
result = run_resqued("quit-and-wait", {str(path)!r}, "--grace-period", "1")
report(result=result, bystander_alive=running(bystander), pid=bystander.pid)
"""
    )
    assert out["bystander_alive"]
    assert out["result"]["rc"] == 2
    line = one_line(out["result"])
    assert f"names pid {out['pid']}, which is not a resqued master" in line
    assert "sleep 300" in line and "not signalling it" in line


def test_a_reused_pid_is_told_apart_by_the_start_record(tmp_path):
    """Another resqued master on a reused pid: the title matches, FILE.start does not."""
    path = tmp_path / "reused.pid"
    out = in_pid_namespace(
        PRELUDE
        + f"""
other = impostor("resqued-0.0.9 master [gen 3] [2 workers] other-app.conf.py")
open({str(path)!r}, "w").write(f"{{other.pid}}\\n")
boot = open("/proc/sys/kernel/random/boot_id").read().strip()
open({str(path)!r} + ".start", "w").write(f"{{other.pid}} {{boot}} 1\\n")  # started at tick 1
reused = run_resqued("quit-and-wait", {str(path)!r}, "--grace-period", "1")
survived = running(other)
# The same process, recorded correctly, is the master of this pidfile: it gets QUIT.
ticks = open(f"/proc/{{other.pid}}/stat").read().rpartition(")")[2].split()[19]
open({str(path)!r} + ".start", "w").write(f"{{other.pid}} {{boot}} {{ticks}}\\n")
matched = run_resqued("quit-and-wait", {str(path)!r}, "--grace-period", "10")
report(reused=reused, survived=survived, matched=matched, exit=other.wait(10))
"""
    )
    assert out["survived"]
    assert out["reused"]["rc"] == 2
    assert "did not write this pidfile (the pid was reused)" in one_line(out["reused"])
    assert out["matched"]["rc"] == 0 and "has exited" in out["matched"]["stdout"]
    assert out["exit"] == 0  # it got QUIT


@pytest.mark.parametrize("verb", ["pause", "resume"])
@pytest.mark.parametrize("content", ["-1", "1", "abc", "foreign"])
def test_pause_and_resume_refuse_a_bad_pidfile(tmp_path, r, redis_url, verb, content):
    path = tmp_path / "bad.pid"
    path.write_text(f"{content}\n")
    out = in_pid_namespace(
        PRELUDE
        + f"""
bystander = victim()
if {content!r} == "foreign":
    open({str(path)!r}, "w").write(f"{{bystander.pid}}\\n")
result = run_resqued({verb!r}, "-p", {str(path)!r}, "--redis", {redis_url!r})
report(result=result, bystander_alive=running(bystander))
"""
    )
    assert out["bystander_alive"]
    assert out["result"]["rc"] == 1
    line = one_line(out["result"])
    assert str(path) in line
    assert r.keys("resque:resqued:pause:*") == []


def test_start_refuses_a_pidfile_holding_garbage(tmp_path, redis_url):
    for content in ("-1", "not a pid"):
        path = tmp_path / "garbage.pid"
        path.write_text(content)
        out = in_pid_namespace(
            PRELUDE
            + f"""
bystander = victim()
result = run_resqued("-n", "1", "-p", {str(path)!r}, "--redis", {redis_url!r})
report(result=result, bystander_alive=running(bystander))
"""
        )
        assert out["bystander_alive"]
        assert out["result"]["rc"] == 1
        assert str(path) in one_line(out["result"])
        assert path.read_text() == content  # not overwritten


@pytest.mark.parametrize("hot_swap", [False, True])
def test_start_takes_over_a_stale_pidfile_naming_a_live_foreign_process(
    tmp_path, r, redis_url, hot_swap
):
    """Warned about and taken over; that process is never signalled (with --hot-swap too)."""
    path = tmp_path / "stale.pid"
    log = tmp_path / "master.log"
    flags = ["--hot-swap"] if hot_swap else []
    out = in_pid_namespace(
        PRELUDE
        + f"""
import signal, subprocess
bystander = victim()
open({str(path)!r}, "w").write(f"{{bystander.pid}}\\n")
master = subprocess.Popen(
    resqued_cmd("-n", "1", "-p", {str(path)!r}, "--redis", {redis_url!r}, *{flags!r}),
    stdout=open({str(log)!r}, "w"), stderr=subprocess.STDOUT,
)
took_over = until(lambda: open({str(path)!r}).read().strip() == str(master.pid))
ready = until(lambda: "is ready" in open({str(log)!r}).read())
alive_after_ready = running(bystander)
master.send_signal(signal.SIGQUIT)
code = master.wait(30)
report(took_over=took_over, ready=ready, bystander_alive=alive_after_ready and running(bystander),
       code=code, pid=bystander.pid)
"""
    )
    assert out["took_over"] and out["ready"]
    assert out["bystander_alive"], "the master signalled the process in a stale pidfile"
    assert out["code"] == 0
    text = log.read_text()
    assert f"names pid {out['pid']}, which is not a resqued master" in text
    assert ("nothing to take over from" if hot_swap else "taking it over") in text
    assert not path.exists()


def test_hot_swap_refuses_minus_one(tmp_path, redis_url):
    path = tmp_path / "minus.pid"
    path.write_text("-1\n")
    out = in_pid_namespace(
        PRELUDE
        + f"""
bystander = victim()
result = run_resqued("-n", "1", "-p", {str(path)!r}, "--hot-swap", "--redis", {redis_url!r},
                     timeout=30)
report(result=result, bystander_alive=running(bystander))
"""
    )
    assert out["bystander_alive"]
    assert out["result"]["rc"] == 1
    assert "holds pid -1, which cannot be a resqued master" in one_line(out["result"])


def test_the_master_records_who_wrote_the_pidfile(resqued, tmp_path, r):
    """FILE holds only the pid (for kill $(cat FILE) and systemd); FILE.start says who wrote it."""
    from support.procs import wait_for

    path = tmp_path / "m.pid"
    m = resqued("-n", "1", "-p", str(path))
    wait_for(lambda: path.exists() and "is ready" in m.output(), 20, "master ready")
    assert path.read_text() == f"{m.pid}\n"
    pid, boot, ticks = (tmp_path / "m.pid.start").read_text().split()
    stat = open(f"/proc/{m.pid}/stat").read().rpartition(")")[2].split()
    assert (int(pid), ticks) == (m.pid, stat[19])
    assert boot == open("/proc/sys/kernel/random/boot_id").read().strip()
    m.signal(signal.SIGQUIT)
    assert m.wait(20) == 0
    assert not path.exists() and not (tmp_path / "m.pid.start").exists()


PIDFILE_COMMANDS = {  # every command that reads a pidfile, and its exit status on a bad one
    "quit-and-wait": (["quit-and-wait", "{path}", "--grace-period", "1"], 2),
    "pause": (["pause", "-p", "{path}", "--redis", "{url}"], 1),
    "resume": (["resume", "-p", "{path}", "--redis", "{url}"], 1),
    "start": (["-n", "1", "-p", "{path}", "--redis", "{url}"], 1),
    "hot-swap": (["-n", "1", "-p", "{path}", "--hot-swap", "--redis", "{url}"], 1),
}


@pytest.mark.parametrize("command", sorted(PIDFILE_COMMANDS))
@pytest.mark.parametrize(
    ("kind", "cause"),
    [
        ("fifo", "is not a regular file"),
        (str(1 << 63), f"holds pid {1 << 63}, which cannot be a pid"),
        ("4194305", "holds pid 4194305, which cannot be a pid"),
    ],
)
def test_a_pidfile_that_is_a_fifo_or_beyond_any_pid_is_one_line(
    tmp_path, r, redis_url, command, kind, cause
):
    """A FIFO never blocks a reader; a pid no kernel gives is refused, not a traceback."""
    path = tmp_path / "bad.pid"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.write_text(f"{kind}\n")
    template, code = PIDFILE_COMMANDS[command]
    args = [a.format(path=path, url=redis_url) for a in template]
    out = in_pid_namespace(
        PRELUDE
        + f"""
bystander = victim()
result = run_resqued(*{args!r}, timeout=30)
report(result=result, bystander_alive=running(bystander))
"""
    )
    assert out["bystander_alive"]
    assert out["result"]["rc"] == code, out["result"]
    line = one_line(out["result"])
    assert str(path) in line and cause in line, line
    assert r.keys("resque:resqued:pause:*") == []
    assert os.path.exists(path) and (kind != "fifo" or stat.S_ISFIFO(os.stat(path).st_mode))


def test_resume_refuses_a_pidfile_naming_a_dead_pid(tmp_path, r, redis_url):
    path = tmp_path / "dead.pid"
    out = in_pid_namespace(
        PRELUDE
        + f"""
import subprocess
gone = subprocess.Popen(["true"])
gone.wait()
open({str(path)!r}, "w").write(f"{{gone.pid}}\\n")
report(result=run_resqued("resume", "-p", {str(path)!r}, "--redis", {redis_url!r}),
       pid=gone.pid)
"""
    )
    assert out["result"]["rc"] == 1, out["result"]
    assert "resumed" not in out["result"]["stdout"]
    line = one_line(out["result"])
    assert f"names pid {out['pid']}, which has exited: no master to resume" in line
