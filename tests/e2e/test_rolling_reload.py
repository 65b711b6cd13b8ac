"""A reload (HUP) under a steady flow of jobs keeps all but one worker able to take a job.

Issue 18 (fleet-wide deploys): the old listener used to QUIT every worker at
once, and the replacements came one slot at a time, so a pool dropped to no
worker waiting for a job.  Now the new listener has the older workers retired
one at a time, each once the replacement of the previous one is up.  Each new
worker takes a while in ``after_fork`` (a slow start, as on a busy host), so
an all-at-once stop would leave the pool empty for that long.  A sampler reads
the workers' titles in /proc every few milliseconds: workers waiting for a job
or working one (Resque's ``Waiting for``, ``Processing`` and ``Forked``
titles) never fall
below N - 1 and live workers never pass N; every job runs exactly once.
"""

from __future__ import annotations

import signal
import threading
from collections import Counter
from pathlib import Path

import redis
from support.jobs import push
from support.procs import wait_for
from support.worker_count import _cmdline, workers_by_listener

WORKERS = 6
ABLE = ("Waiting for", "Processing", "Forked")  # waiting, or working a job (in a child)

APP = """
import os, resqued

@resqued.job("Note")
class Note:
    @staticmethod
    def perform(n):
        with open(os.path.join(os.environ["RAN_DIR"], "ran.log"), "a") as f:
            f.write(f"{n}\\n")
"""

CONF = f"""
import time

worker_processes({WORKERS})
queue("flow")
interval(0.2)

@after_fork
def slow_start(worker):
    time.sleep(0.4)  # a replacement takes this long to be able to take a job
"""


class Sampler(threading.Thread):
    """Every ~2 ms: live workers of the master, and those waiting for or working a job."""

    def __init__(self, master: int) -> None:
        super().__init__(daemon=True)
        self.master = master
        self.halt = threading.Event()
        self.samples = 0
        self.fewest_able = WORKERS
        self.most_live = 0

    def run(self) -> None:
        while not self.halt.wait(0.002):
            pids = [p for ws in workers_by_listener(self.master).values() for p in ws]
            titles = [_cmdline(p) for p in pids]
            able = sum(1 for t in titles if any(word in t for word in ABLE))
            self.samples += 1
            self.fewest_able = min(self.fewest_able, able)
            self.most_live = max(self.most_live, len(pids))

    def stop(self) -> None:
        self.halt.set()
        self.join(10)


class Producer(threading.Thread):
    """Pushes numbered jobs at about 100 a second until stopped."""

    def __init__(self, r: redis.Redis) -> None:
        super().__init__(daemon=True)
        self.r = r
        self.halt = threading.Event()
        self.pushed = 0

    def run(self) -> None:
        while not self.halt.wait(0.01):
            push(self.r, "flow", "Note", self.pushed)
            self.pushed += 1

    def stop(self) -> None:
        self.halt.set()
        self.join(10)


def test_a_reload_under_load_keeps_n_minus_one_workers_able_and_never_more_than_n(
    resqued, app_dir: Path, r
):
    (app_dir / "note_jobs.py").write_text(APP)
    conf = app_dir / "conf.py"
    conf.write_text(CONF)
    env = {"RAN_DIR": str(app_dir)}
    m = resqued("-c", str(conf), "-r", "note_jobs", cwd=app_dir, env=env)

    def able() -> int:
        pids = [p for ws in workers_by_listener(m.pid).values() for p in ws]
        return sum(1 for p in pids if any(word in _cmdline(p) for word in ABLE))

    wait_for(lambda: able() == WORKERS, 30, "workers waiting")
    producer, sampler = Producer(r), Sampler(m.pid)
    producer.start()
    wait_for(lambda: producer.pushed > 20, 10, "a steady flow")
    sampler.start()
    try:
        for n in range(2):
            old = set(workers_by_listener(m.pid))
            m.signal(signal.SIGHUP)
            wait_for(lambda n=n: m.output().count("is ready") >= n + 2, 30, f"reload {n + 1}")
            wait_for(lambda old=old: not old & set(workers_by_listener(m.pid)), 60, "old gone")
            wait_for(lambda: able() == WORKERS, 30, "every new worker up")  # before the next
    finally:
        sampler.stop()
        producer.stop()
    wait_for(lambda: r.llen("resque:queue:flow") == 0, 30, "the queue drained")
    ran_log = app_dir / "ran.log"
    wait_for(lambda: len(ran_log.read_text().split()) >= producer.pushed, 30, "every job ran")
    ran = Counter(int(x) for x in ran_log.read_text().split())
    print(
        f"\n{sampler.samples} samples, fewest able {sampler.fewest_able}, "
        f"most live {sampler.most_live}, {producer.pushed} jobs"
    )
    assert sampler.samples > 500
    assert sampler.fewest_able >= WORKERS - 1, f"only {sampler.fewest_able} able at one point"
    assert sampler.most_live <= WORKERS
    assert "one at a time" in m.output()
    assert sorted(ran) == list(range(producer.pushed)) and set(ran.values()) == {1}
    m.signal(signal.SIGQUIT)
    assert m.wait(30) == 0


def test_a_second_hup_during_a_rolling_hand_over_ends_with_the_newest_workers_only(
    resqued, app_dir: Path, r
):
    """The second HUP comes while the first listener still has workers to retire: the
    newest listener ends up with every slot, never more than N, every job run once."""
    (app_dir / "note_jobs.py").write_text(APP)
    conf = app_dir / "conf.py"
    conf.write_text(CONF)
    m = resqued("-c", str(conf), "-r", "note_jobs", cwd=app_dir, env={"RAN_DIR": str(app_dir)})
    wait_for(lambda: len(workers_by_listener(m.pid)) == 1, 30, "the listener")
    first = next(iter(workers_by_listener(m.pid)))
    wait_for(lambda: len(workers_by_listener(m.pid)[first]) == WORKERS, 30, "workers up")
    producer, sampler = Producer(r), Sampler(m.pid)
    producer.start()
    sampler.start()
    try:
        m.signal(signal.SIGHUP)
        wait_for(lambda: "one at a time" in m.output(), 30, "the first hand-over")
        wait_for(lambda: len(workers_by_listener(m.pid).get(first, [])) < WORKERS - 1, 30, "2 went")
        assert workers_by_listener(m.pid).get(first), "the hand-over ended too soon to test"
        m.signal(signal.SIGHUP)
        wait_for(lambda: m.output().count("is ready") >= 3, 30, "the second reload")
        wait_for(lambda: len(workers_by_listener(m.pid)) == 1, 60, "older listeners gone")
        newest = next(iter(workers_by_listener(m.pid)))
        wait_for(lambda: len(workers_by_listener(m.pid)[newest]) == WORKERS, 30, "newest full")
    finally:
        sampler.stop()
        producer.stop()
    assert newest != first
    wait_for(lambda: r.llen("resque:queue:flow") == 0, 30, "the queue drained")
    ran_log = app_dir / "ran.log"
    wait_for(lambda: len(ran_log.read_text().split()) >= producer.pushed, 30, "every job ran")
    ran = Counter(int(x) for x in ran_log.read_text().split())
    print(f"\nfewest able {sampler.fewest_able}, most live {sampler.most_live}")
    assert sampler.most_live <= WORKERS
    assert sampler.fewest_able >= WORKERS - 1, f"only {sampler.fewest_able} able at one point"
    assert sorted(ran) == list(range(producer.pushed)) and set(ran.values()) == {1}
    m.signal(signal.SIGQUIT)
    assert m.wait(30) == 0
