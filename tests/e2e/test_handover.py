"""A reload (HUP) never runs more workers than configured, even when workers die during it.

Issue 23, defect 5: while a new listener boots, the old one replaces the
workers that die; the new listener must count those replacements, and must
not fill a slot the old listener is about to refill.  The app takes a while
to import, so each hand-over is wide; a killer SIGKILLs the old listener's
workers all through it; a sampler counts live worker processes in /proc
every few milliseconds.  With ``slow_fork`` the retiring listener takes two
seconds in ``before_fork`` before each start, and one of its workers is
killed early in each hand-over: the new listener gets ready while the old
one is between that worker's exit and its replacement.
"""

from __future__ import annotations

import os
import random
import signal
import threading
from pathlib import Path

import pytest
from support.jobs import push
from support.procs import wait_for
from support.worker_count import Peak, live_workers, workers_by_listener

WORKERS = 4
ROUNDS = 6

APP = """
import os, time, resqued

time.sleep(float(os.environ.get("BOOT_DELAY", "0")))  # a slow import: a wide hand-over

@resqued.job("Linger")
class Linger:
    @staticmethod
    def perform(seconds):
        time.sleep(seconds)  # old workers finish a job after their listener retires
"""

CONF = f"""
import os, time

worker_processes({WORKERS})
queue("linger")
interval(0.2)

@before_fork
def slow_fork():
    if os.path.exists("slow-fork") and open("slow-fork").read() == str(os.getpid()):
        time.sleep(2.0)  # only in the listener the test names: the one about to retire
"""


class Killer(threading.Thread):
    """SIGKILLs a random worker of the listeners in ``targets`` every 0.3-0.9 s, ``most`` times.

    Not faster: a replacement must live a while to overlap the new listener's start.
    """

    def __init__(self, master: int, targets: set[int], most: int) -> None:
        super().__init__(daemon=True)
        self.master, self.targets, self.most = master, targets, most
        self.halt = threading.Event()
        self.rnd = random.Random(23)
        self.kills = 0

    def run(self) -> None:
        while self.kills < self.most and not self.halt.wait(self.rnd.uniform(0.3, 0.9)):
            victims = [
                p for li, ws in workers_by_listener(self.master).items() if li in self.targets
                for p in ws
            ]  # fmt: skip
            if victims:
                try:
                    os.kill(self.rnd.choice(victims), signal.SIGKILL)
                    self.kills += 1
                except ProcessLookupError:
                    pass

    def stop(self) -> None:
        self.halt.set()
        self.join(10)


@pytest.mark.parametrize("slow_fork", [False, True], ids=["plain", "slow-before-fork"])
def test_workers_killed_during_a_reload_never_make_more_than_configured(
    resqued, app_dir: Path, r, slow_fork: bool
):
    (app_dir / "linger_jobs.py").write_text(APP)
    conf = app_dir / "conf.py"
    conf.write_text(CONF)
    m = resqued("-c", str(conf), "-r", "linger_jobs", cwd=app_dir, env={"BOOT_DELAY": "1.5"})
    wait_for(lambda: live_workers([m.pid]) == WORKERS, 30, "workers up")
    for _ in range(3000):
        push(r, "linger", "Linger", 0.4)
    peak = Peak([m.pid], WORKERS)
    peak.start()
    spawned = kills = 0
    try:
        for n in range(ROUNDS):
            now = workers_by_listener(m.pid)
            old, before = set(now), {p for pids in now.values() for p in pids}
            if slow_fork:
                (app_dir / "slow-fork").write_text(str(next(iter(old))))
            killer = Killer(m.pid, old, 1 if slow_fork else 1000)
            m.signal(signal.SIGHUP)
            killer.start()
            wait_for(lambda n=n: m.output().count("is ready") >= n + 2, 30, f"reload {n + 1}")
            wait_for(lambda old=old: not old & set(workers_by_listener(m.pid)), 30, "old gone")
            wait_for(lambda: live_workers([m.pid]) == WORKERS, 30, "the new workers")
            killer.stop()
            kills += killer.kills
            spawned += sum(1 for p, li in peak.seen.items() if li in old and p not in before)
    finally:
        peak.stop()
    print(f"\n{kills} kills, {spawned} replacements by retiring listeners, "
          f"{peak.samples} samples, peak {peak.peak}, {peak.over} samples above {WORKERS}")  # fmt: skip
    assert spawned > 0, "the old listeners never replaced a worker during a hand-over"
    assert peak.samples > 500
    assert peak.peak <= WORKERS, f"{peak.over} of {peak.samples} samples above {WORKERS}"
    m.signal(signal.SIGQUIT)
    assert m.wait(30) == 0
