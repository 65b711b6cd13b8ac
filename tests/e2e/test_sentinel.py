"""Redis Sentinel for real: jobs flow through a failover (issue 8, defect 4).

A primary, a replica and three Sentinels on loopback (``support.sentinel``);
``resqued work`` and a master with two workers connect through a
``redis+sentinel://`` URL with a password; the primary is SIGKILLed.  Every
job must then have run exactly once, or be in ``failed``: none lost, none
twice, none left in a worker record.  Jobs record themselves in a file, not
in Redis, so the count does not depend on the failover.
"""

from __future__ import annotations

import collections
import json
import signal
import threading
import time
from pathlib import Path

import pytest
import redis
from support.cli import run
from support.procs import wait_for
from support.sentinel import SentinelSetup

from resqued.resque.connection import connect

PASSWORD = "sentinel/pw@1"
# Push a job exactly once even if the reply to the push is lost in the failover.
PUSH_ONCE = """
if redis.call('SET', KEYS[1], '1', 'NX') then
  redis.call('SADD', KEYS[2], ARGV[1])
  redis.call('RPUSH', KEYS[3], ARGV[2])
end
return 1
"""


@pytest.fixture
def cluster(tmp_path):
    setup = SentinelSetup(tmp_path / "sentinel", password=PASSWORD)
    try:
        setup.start()
        yield setup
    finally:
        setup.stop()


class Producer:
    """Pushes FileRecord jobs through the Sentinel URL, retrying each until it is in."""

    def __init__(self, url: str, out: Path, seconds: float = 0.0) -> None:
        self.client = connect(url)
        self.script = self.client.register_script(PUSH_ONCE)
        self.out = out
        self.seconds = seconds
        self.pushed: list[str] = []

    def push(self, key: str) -> None:
        body = json.dumps({"class": "FileRecord", "args": [str(self.out), key, self.seconds]})
        deadline = time.monotonic() + 60
        while True:
            try:
                self.script(
                    keys=[f"test:pushed:{key}", "resque:queues", "resque:queue:default"],
                    args=["default", body],
                )
                break
            except (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)  # retry step while the failover runs
        self.pushed.append(key)


def tally(out: Path, pushed: list[str], client: redis.Redis) -> dict[str, int]:
    """Jobs run once, twice or more, failed, still queued, in limbo, and lost."""
    runs = collections.Counter(
        line.split()[0] for line in (out.read_text().splitlines() if out.exists() else [])
    )
    failed = {json.loads(f)["payload"]["args"][1] for f in client.lrange("resque:failed", 0, -1)}
    queued = {json.loads(j)["args"][1] for j in client.lrange("resque:queue:default", 0, -1)}
    limbo = set()
    for key in client.keys("resque:worker:*"):
        doc = client.get(key) if client.type(key) == b"string" else None
        if doc and doc.startswith(b"{"):
            limbo.add(json.loads(doc)["payload"]["args"][1])
    return {
        "once": sum(1 for k in pushed if runs[k] == 1 and k not in failed),
        "twice": sum(1 for k in pushed if runs[k] > 1),
        "failed": len(failed),
        "queued": len(queued),
        "limbo": len(limbo),
        "lost": sum(1 for k in pushed if not runs[k] and k not in failed | queued | limbo),
    }


def blocked(client: redis.Redis) -> int:
    return int(client.info("clients")["blocked_clients"])


def start_pool(resqued, app_dir: Path, url: str) -> list:
    common = ("-r", "file_jobs", "--redis", url)
    return [
        resqued("work", "-q", "default", "-i", "1", *common, cwd=app_dir, redis=False),
        resqued(
            "-n", "2", "--queue", "default", "--interval", "1", *common, cwd=app_dir, redis=False
        ),  # fmt: skip
    ]


def stop_pool(procs: list) -> None:
    for p in procs:
        p.signal(signal.SIGQUIT)
    for p in procs:
        assert p.wait(30) == 0, p.output()


def test_jobs_flow_through_a_sentinel_failover(resqued, app_dir, cluster):
    out = app_dir / "done.txt"
    url = cluster.url()
    producer = Producer(url, out)
    procs = start_pool(resqued, app_dir, url)
    for n in range(20):
        producer.push(f"before-{n}")
    wait_for(lambda: tally(out, producer.pushed, cluster.client())["once"] == 20, 30, "20 jobs")
    wait_for(lambda: cluster.client().scard("resque:workers") == 3, 15, "3 workers registered")
    wait_for(lambda: blocked(cluster.client()) == 3, 15, "3 workers waiting idle (BLMOVE)")
    cluster.kill_primary()
    for n in range(20):
        producer.push(f"after-{n}")
    wait_for(
        lambda: tally(out, producer.pushed, cluster.client())["once"] == 40,
        60,
        "the jobs pushed after the failover",
    )
    counts = tally(out, producer.pushed, cluster.client())
    assert counts == {"once": 40, "twice": 0, "failed": 0, "queued": 0, "limbo": 0, "lost": 0}
    # The idle waits (Store.dedicated_connection) found the new primary through the Sentinels.
    wait_for(lambda: blocked(cluster.client()) == 3, 15, "3 workers waiting on the new primary")
    stop_pool(procs)
    assert "Traceback" not in "".join(p.output() for p in procs)
    assert PASSWORD not in "".join(p.output() for p in procs)


@pytest.mark.chaos
def test_sentinel_failover_under_load(resqued, app_dir, cluster):
    """Jobs keep arriving and running while the primary is killed; print the tally."""
    out = app_dir / "done.txt"
    url = cluster.url()
    producer = Producer(url, out, seconds=0.02)
    procs = start_pool(resqued, app_dir, url)
    stop = threading.Event()

    def produce() -> None:
        n = 0
        while not stop.is_set():
            producer.push(f"job-{n}")
            n += 1
            stop.wait(0.005)  # pacing of the producer, not a test wait

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    wait_for(lambda: len(producer.pushed) >= 300, 60, "300 jobs pushed")
    cluster.kill_primary()
    wait_for(lambda: len(producer.pushed) >= 900, 120, "600 more jobs after the failover")
    stop.set()
    thread.join(60)
    total = len(producer.pushed)

    def settled() -> bool:
        c = tally(out, producer.pushed, cluster.client())
        return c["once"] + c["failed"] + c["twice"] >= total and c["queued"] == 0

    wait_for(settled, 120, "every job to finish")
    wait_for(lambda: tally(out, producer.pushed, cluster.client())["limbo"] == 0, 10, "no limbo")
    counts = tally(out, producer.pushed, cluster.client())
    print(f"\nsentinel failover, {total} jobs:")
    for name, value in counts.items():
        print(f"  {name:<8} {value}")
    assert counts["lost"] == 0 and counts["twice"] == 0 and counts["limbo"] == 0
    assert counts["once"] + counts["failed"] == total
    stop_pool(procs)


def test_a_service_no_sentinel_knows_is_one_short_line(cluster):
    """Every Sentinel answers, none knows the service: one line, one cause per Sentinel."""
    url = cluster.url().replace("/mymaster/", "/nosuch/")
    for args in (["status"], ["-n", "1", "--test"]):
        out = run(*args, "--redis", url)
        assert out.returncode == 1, out
        [line] = out.stderr.strip().splitlines()
        assert "no Sentinel gave a primary for service 'nosuch'" in line, line
        assert line.count(": no such service") == len(cluster.sentinels), line
        assert "<redis" not in line and PASSWORD not in line
