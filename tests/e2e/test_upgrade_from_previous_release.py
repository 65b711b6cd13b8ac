"""USR2 from the release before the master got its package (48efa0c) to this tree: same pid, same workers.

Deployed as operators do it: two release directories side by side, a
``current`` symlink the master was started through, the symlink switched,
then USR2.  The old release is ``git archive 48efa0c`` of this repository;
the new one is this tree's ``resqued/``.  Each release's version is marked so
the master's title shows which image runs.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from support import ROOT
from support.jobs import push
from support.procs import Proc, descendants, ps, wait_for

PREVIOUS = "48efa0c"  # the last commit with the master's modules at the package root

JOBS = """
import os, redis, resqued
r = redis.Redis.from_url(os.environ["REDIS_URL"])

@resqued.job("Mark")
class Mark:
    queue = "up"

    @staticmethod
    def perform(tag):
        r.rpush("marks", f"{tag}:{os.getpid()}")
"""


def archive(commit: str, into: Path) -> None:
    """``git archive COMMIT resqued`` unpacked into ``into``; skip when the clone lacks it."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed: the previous release cannot be unpacked")
    known = subprocess.run(
        ["git", "-C", str(ROOT), "cat-file", "-e", f"{commit}^{{commit}}"], capture_output=True
    )
    if known.returncode != 0:
        pytest.skip(f"commit {commit} is not in this clone's history (a shallow clone?)")
    tar = subprocess.run(
        ["git", "-C", str(ROOT), "archive", commit, "resqued"], capture_output=True, check=True
    )
    with tarfile.open(fileobj=io.BytesIO(tar.stdout)) as t:
        t.extractall(into, filter="data")


def mark_version(release: Path, tag: str) -> None:
    version = release / "resqued" / "version.py"
    text = version.read_text()
    version.write_text(text.replace('__version__ = "', f'__version__ = "{tag}-', 1))


def master_title(pid: int) -> str:
    return next((t for p, _, t in ps() if p == pid), "")


def workers_of(master: int) -> set[int]:
    """Worker processes (children of the master's listeners)."""
    family = descendants(master)
    listeners = {p for p, pp, t in family if pp == master and " listener #" in t}
    return {p for p, pp, _ in family if pp in listeners}


def test_usr2_from_the_previous_release_keeps_the_pid_and_the_workers(tmp_path, redis_url, r):
    releases = tmp_path / "releases"
    old, new = releases / "old", releases / "new"
    archive(PREVIOUS, old)
    shutil.copytree(ROOT / "resqued", new / "resqued", ignore=shutil.ignore_patterns("__pycache__"))
    mark_version(old, "old")
    mark_version(new, "new")
    current = tmp_path / "current"
    current.symlink_to(old)
    app = tmp_path / "app"
    app.mkdir()
    (app / "up_jobs.py").write_text(JOBS)
    (app / "conf.py").write_text('worker_processes(2)\nqueue("up")\ninterval(0.2)\n')
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NOTIFY_SOCKET")},
        "PYTHONPATH": str(app),  # resqued itself comes from the working directory: a release
        "PYTHONUNBUFFERED": "1",
        "PWD": str(current),
        "REDIS_URL": redis_url,
    }
    log = tmp_path / "master.out"
    with open(log, "wb") as out:
        popen = subprocess.Popen(
            [sys.executable, "-m", "resqued.cli", "-c", str(app / "conf.py"), "-r", "up_jobs",
             "-p", str(tmp_path / "master.pid")],
            cwd=current, env=env, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    master = Proc(popen, log)
    try:
        wait_for(lambda: len(workers_of(master.pid)) == 2, 30, "the old release's 2 workers")
        assert "resqued-old-" in master_title(master.pid), master_title(master.pid)
        master.signal(signal.SIGTTIN)  # state that must cross: a TTIN
        wait_for(lambda: len(workers_of(master.pid)) == 3, 20, "a third worker after TTIN")
        push(r, "up", "Mark", "before")
        wait_for(lambda: r.llen("marks") == 1, 20, "a job run by the old release")
        workers = workers_of(master.pid)
        listener = {p for p, pp, t in descendants(master.pid) if " listener #" in t}

        current.unlink()
        current.symlink_to(new)
        master.signal(signal.SIGUSR2)
        wait_for(lambda: "re-exec: took over 1 listener(s)" in master.output(), 60,
                 f"the new image taking over:\n{master.output()}")  # fmt: skip
        wait_for(lambda: "master [gen 1] [3 workers]" in master_title(master.pid), 10,
                 "the new image's title")  # fmt: skip
        assert master_title(master.pid).startswith("resqued-new-"), master_title(master.pid)
        assert master.popen.poll() is None  # the same process: it exec'd, it did not exit
        assert workers_of(master.pid) == workers  # not one worker restarted
        assert {p for p, pp, t in descendants(master.pid) if " listener #" in t} == listener
        push(r, "up", "Mark", "after")
        wait_for(lambda: r.llen("marks") == 2, 20, "a job run after the re-exec")
        assert int((tmp_path / "master.pid").read_text()) == master.pid

        master.signal(signal.SIGHUP)  # the new image reloads: the new release's listener
        wait_for(
            lambda: (
                any(" listener #2 " in t for _, _, t in descendants(master.pid))
                and not workers & workers_of(master.pid)
                and len(workers_of(master.pid)) == 2
            ),
            60,
            f"listener #2's 2 workers replacing the old ones:\n{master.output()}",
        )
        master.signal(signal.SIGQUIT)
        assert master.wait(30) == 0
        assert "Traceback" not in master.output(), master.output()
    finally:
        for pid, _, _ in descendants(master.pid) if master.popen.poll() is None else []:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        master.kill()
