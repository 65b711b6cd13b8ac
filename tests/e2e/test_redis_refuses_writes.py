"""A Redis that refuses writes (``maxmemory`` with ``noeviction``) under a running fleet.

Each test starts a Redis of its own, fills it for real (``CONFIG SET maxmemory``)
while workers run, then frees it.  Refused writes are an outage: workers keep
their processes, log a line per interval with a count, no traceback, and every
job ends completed once, in ``failed``, or queued; none is lost.
"""

from __future__ import annotations

import json
import os
import signal
from collections import Counter
from pathlib import Path

import pytest
import redis
from support.jobs import PREFIX, reserves
from support.procs import descendants, wait_for
from support.redis_server import ExtraRedis

MODES = {"fork": [], "in process": ["--no-fork"], "threads": ["--threads", "2"]}
mode_names = pytest.mark.parametrize("mode", list(MODES))


def workers(master: int) -> list[int]:
    """Worker processes (not job children) under ``master``."""
    rows = descendants(master)
    listeners = {p for p, _, t in rows if " listener #" in t}
    return sorted(p for p, pp, t in rows if pp in listeners and t.startswith(PREFIX))


def marks(tmp: Path, name: str) -> Counter[int]:
    path = tmp / name
    return Counter(int(x) for x in path.read_text().split()) if path.exists() else Counter()


def push(client: redis.Redis, *jobs: tuple[int, float]) -> None:
    pipe = client.pipeline(transaction=False)
    pipe.sadd("resque:queues", "marks")
    for i, seconds in jobs:
        pipe.rpush("resque:queue:marks", json.dumps({"class": "Mark", "args": [i, seconds]}))
    pipe.execute()


def fill(client: redis.Redis) -> None:
    """Redis refuses every write that may grow memory from now on."""
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", 1)


def free(client: redis.Redis) -> None:
    client.config_set("maxmemory", 0)


def accounted(client: redis.Redis, tmp: Path, total: int) -> dict[str, int]:
    """Every job: completed (once or more), failed, still queued, or lost."""
    done = marks(tmp, "done")
    failed = {json.loads(x)["payload"]["args"][0] for x in client.lrange("resque:failed", 0, -1)}
    queued = {json.loads(x)["args"][0] for x in client.lrange("resque:queue:marks", 0, -1)}
    return {
        "once": sum(1 for i in range(total) if done[i] == 1),
        "twice": sum(1 for i in range(total) if done[i] > 1),
        "failed": len(failed),
        "queued": len(queued),
        "lost": sum(1 for i in range(total) if not done[i] and i not in failed | queued),
    }


def start(resqued, app_dir: Path, tmp: Path, server: ExtraRedis, mode: str, *more: str):
    conf = app_dir / "refused.conf.py"
    conf.write_text("worker_processes(2)\nqueue('marks')\ninterval(1)\nprune_interval(1)\n")
    url = server.url
    return resqued(
        "-c", str(conf), "-r", "file_marks", *MODES[mode], *more, "--redis", url,
        cwd=app_dir, env={"MARKS_DIR": str(tmp), "REDIS_URL": url}, redis=False,
    )  # fmt: skip


def refusal_lines(m, text: str = "refuses writes") -> list[str]:
    return [line for line in m.output().splitlines() if text in line]


@mode_names
def test_workers_wait_out_a_full_redis_and_lose_nothing(resqued, app_dir, tmp_path, mode):
    server = ExtraRedis(tmp_path / "redis")
    server.dir.mkdir()
    server.start()
    client = server.client()
    try:
        m = start(resqued, app_dir, tmp_path, server, mode)
        threads = 2 if mode == "threads" else 1
        wait_for(lambda: client.scard("resque:workers") == 2 * threads, 30, "workers up")
        before = workers(m.pid)
        push(client, *((i, 0.01) for i in range(150)), (150, 1.5), (151, 1.5))
        wait_for(lambda: len(marks(tmp_path, "done")) >= 20, 30, "jobs running")
        fill(client)
        # The queue drains (a reserve's first write is a pop, which a full Redis allows);
        # then every idle wait is refused, for as long as Redis is full.
        wait_for(lambda: len(refusal_lines(m)) >= 2 * threads, 30, "each idle worker's refusal")
        polls = reserves(client)  # reserves still run: the workers poll their queues meanwhile
        wait_for(lambda: reserves(client) >= polls + 8 * threads, 30, "refused waits, polled on")
        assert workers(m.pid) == before  # the same processes: nothing crashed, none replaced
        free(client)
        push(client, *((i, 0.01) for i in range(152, 200)))
        wait_for(lambda: len(marks(tmp_path, "done")) == 200, 60, "every job after Redis is freed")
        wait_for(lambda: refusal_lines(m, "takes waits again"), 15, "the end of the outage")
        assert workers(m.pid) == before
        out = m.output()
        assert "Traceback" not in out and "restarts in" not in out, out[-3000:]
        # One line when it started (then one a minute), per worker thread: not a line a try.
        assert len(refusal_lines(m)) <= 2 * threads * 2, refusal_lines(m)
        assert accounted(client, tmp_path, 200) == {
            "once": 200, "twice": 0, "failed": 0, "queued": 0, "lost": 0
        }  # fmt: skip
        m.signal(signal.SIGQUIT)
        assert m.wait(30) == 0
    finally:
        server.stop()


@mode_names
def test_a_worker_killed_while_redis_is_full_leaves_its_job_to_be_failed_later(
    resqued, app_dir, tmp_path, mode
):
    server = ExtraRedis(tmp_path / "redis")
    server.dir.mkdir()
    server.start()
    client = server.client()
    try:
        m = start(resqued, app_dir, tmp_path, server, mode)
        threads = 2 if mode == "threads" else 1
        wait_for(lambda: client.scard("resque:workers") == 2 * threads, 30, "workers up")
        push(client, (0, 60.0))
        wait_for(lambda: marks(tmp_path, "started")[0], 30, "the job running")
        [wid] = [
            k.decode().removeprefix("resque:worker:")
            for k in client.keys("resque:worker:*")
            if not k.endswith(b":started")
        ]
        victim = int(wid.split(":")[1])
        fill(client)
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: "could not unregister dead worker" in m.output(), 30, "a refused cleanup")
        # Redis refused to record the failure, so the job is still where it was.
        assert json.loads(client.get(f"resque:worker:{wid}"))["payload"]["args"] == [0, 60.0]
        free(client)
        wait_for(lambda: client.llen("resque:failed") == 1, 30, "a prune fails the job")
        [failed] = [json.loads(x) for x in client.lrange("resque:failed", 0, -1)]
        assert failed["payload"] == {"class": "Mark", "args": [0, 60.0]}
        assert failed["worker"] == wid and failed["exception"] == "Resque::DirtyExit"
        assert not client.exists(f"resque:worker:{wid}")
        assert accounted(client, tmp_path, 1) == {
            "once": 0, "twice": 0, "failed": 1, "queued": 0, "lost": 0
        }  # fmt: skip
        assert "Traceback" not in m.output()
        m.signal(signal.SIGQUIT)
        assert m.wait(30) == 0
    finally:
        server.stop()


class Failover:
    """Our Redis demoted: a replica of it is promoted and ours follows it (READONLY)."""

    def __init__(self, server: ExtraRedis, tmp: Path) -> None:
        self.server = server
        self.other = ExtraRedis(tmp / "promoted")
        self.other.dir.mkdir()

    def refuse(self) -> redis.Redis:
        self.other.start()
        promoted = self.other.client()
        promoted.replicaof("127.0.0.1", self.server.port)
        wait_for(lambda: _linked(promoted), 20, "the replica in sync")
        promoted.replicaof("NO", "ONE")
        self.server.client().replicaof("127.0.0.1", self.other.port)
        wait_for(lambda: _linked(self.server.client()), 20, "ours following the new primary")
        return promoted  # jobs go there now, and reach ours by replication

    def accept(self) -> None:
        self.server.client().replicaof("NO", "ONE")
        self.other.stop()

    def cleanup(self) -> None:
        self.other.stop()


class DiskError:
    """Our Redis cannot save (its directory is gone): MISCONF refuses every write, until the
    operator lets it take writes unsaved."""

    def __init__(self, server: ExtraRedis, tmp: Path) -> None:
        self.server = server

    def refuse(self) -> redis.Redis:
        client = self.server.client()
        client.config_set("save", "3600 1")  # MISCONF applies where saving is configured
        self.server.dir.rmdir()  # its working directory: nothing saved there yet
        client.bgsave()
        wait_for(lambda: _last_save(client) == "err", 20, "a failed save")
        return client

    def accept(self) -> None:
        self.server.client().config_set("stop-writes-on-bgsave-error", "no")

    def cleanup(self) -> None:
        self.server.client().config_set("save", "")  # else it will not stop: it cannot save


def _last_save(client: redis.Redis) -> str:
    return str(client.info("persistence")["rdb_last_bgsave_status"])


def _linked(client: redis.Redis) -> bool:
    return client.info("replication").get("master_link_status") == "up"


@pytest.mark.parametrize("fault", [Failover, DiskError], ids=["READONLY", "MISCONF"])
def test_workers_wait_out_a_replica_or_a_disk_error(resqued, app_dir, tmp_path, fault):
    server = ExtraRedis(tmp_path / "redis")
    server.dir.mkdir()
    server.start()
    client = server.client()
    refusal = fault(server, tmp_path)
    code = "READONLY" if fault is Failover else "MISCONF"
    try:
        m = start(resqued, app_dir, tmp_path, server, "in process")
        wait_for(lambda: client.scard("resque:workers") == 2, 30, "workers up")
        push(client, *((i, 0.0) for i in range(20)))
        wait_for(lambda: len(marks(tmp_path, "done")) == 20, 30, "jobs before the fault")
        before = workers(m.pid)
        push(client, *((i, 0.0) for i in range(20, 40)))  # some are taken before the fault
        writable = refusal.refuse()
        push(writable, *((i, 0.0) for i in range(40, 60))) if fault is Failover else None
        wait_for(lambda: refusal_lines(m, f"refuses writes ({code}"), 30, f"{code} logged")
        assert workers(m.pid) == before
        refusal.accept()
        if fault is not Failover:
            push(client, *((i, 0.0) for i in range(40, 60)))
        wait_for(lambda: len(marks(tmp_path, "done")) == 60, 60, "every job once writes work")
        assert workers(m.pid) == before
        out = m.output()
        assert "Traceback" not in out and "restarts in" not in out, out[-3000:]
        assert accounted(client, tmp_path, 60) == {
            "once": 60, "twice": 0, "failed": 0, "queued": 0, "lost": 0
        }  # fmt: skip
        m.signal(signal.SIGQUIT)
        assert m.wait(30) == 0
    finally:
        refusal.cleanup()
        server.stop()


@pytest.mark.parametrize("mode", ["in process", "threads"])
def test_a_job_past_its_hard_limit_while_redis_is_full_is_recorded_as_timed_out(
    resqued, app_dir, tmp_path, mode
):
    """The process running the job is killed (in process: its watchdog) or exits (threads)
    at the limit, whatever Redis does; Redis refuses the record, so the listener keeps it
    and records the job as a JobTimeout once Redis takes writes (a prune would say dirty
    exit), and the job never completes."""
    server = ExtraRedis(tmp_path / "redis")
    server.dir.mkdir()
    server.start()
    client = server.client()
    try:
        m = start(resqued, app_dir, tmp_path, server, mode, "--job-timeout", "2")
        threads = 2 if mode == "threads" else 1
        wait_for(lambda: client.scard("resque:workers") == 2 * threads, 30, "workers up")
        push(client, (0, 8.0))
        wait_for(lambda: marks(tmp_path, "started")[0], 30, "the job running")
        fill(client)
        wait_for(lambda: "could not unregister dead worker" in m.output(), 30, "a refused record")
        free(client)
        wait_for(lambda: client.llen("resque:failed") == 1, 30, "the job recorded")
        [failed] = [json.loads(x) for x in client.lrange("resque:failed", 0, -1)]
        assert failed["payload"] == {"class": "Mark", "args": [0, 8.0]}
        assert failed["exception"] == "resqued.JobTimeout", failed
        assert "hard time limit 2s" in failed["error"]
        assert not marks(tmp_path, "done")  # ended at its limit: it never completed
        assert "Traceback" not in m.output()
        m.signal(signal.SIGQUIT)
        assert m.wait(30) == 0
        assert not marks(tmp_path, "done")
    finally:
        server.stop()
