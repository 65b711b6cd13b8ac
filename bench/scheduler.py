"""Row 9: delayed jobs, ours (``resqued --scheduler``) vs RQ's (``rq worker --with-scheduler``).

- Mover lag: a steady flow of jobs scheduled 2 s ahead at whole seconds
  (``resqued.enqueue_at_with_queue``, RQ's ``Queue.enqueue_at``), 2 workers a side
  in process; each job's first statement records its start; lag = start - due time.
  Redis CPU per delayed job is taken over the same window: the producer's write,
  the move, the reserve and the job's own RPUSH, on both sides.
- A burst: N jobs due at one instant, written ahead (ours: resque-scheduler's keys
  in pipelines; RQ: ``enqueue_at`` in pipelines); from that instant, the time until
  the last is moved (ours: ``delayed:<epoch>`` gone; RQ: its scheduled registry
  empty), and Redis's SLOWLOG (threshold 1 ms) over the move: the longest call and
  the calls over 50 ms.  Ours moves to a queue no worker reads; RQ's scheduler only
  moves the queues its worker reads, so its worker also runs the (no-op) jobs.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import redis

from bench._common import BenchError, spawn, start, stop, wait_until
from bench.peers import QUEUE
from bench.settings import Context
from bench.stats import Row, percentile

BURST_QUEUE = "burst"
SIZES = {  # mode -> (flow jobs/s, flow seconds, burst jobs, rounds)
    "quick": (50, 8, 20_000, 1),
    "full": (100, 13, 100_000, 1),
}
# Seconds at the flow's start whose jobs are left out of the lag: a mover with an empty
# queue looks again only after its interval (5 s, as resque-scheduler's), RQ's after 1 s.
WARM_UP = 3.0


def redis_cpu(client: redis.Redis) -> float:
    """redis-server's CPU seconds so far (system + user)."""
    info = client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


class Side:
    """One scheduler and its 2 workers, started and stopped."""

    def __init__(self, ctx: Context, rq: bool) -> None:
        self.ctx, self.rq = ctx, rq
        self.procs: list[Any] = []

    def start(self) -> None:
        c, url, d = self.ctx.client, self.ctx.url, self.ctx.app_dir
        if self.rq:
            queues = [QUEUE, BURST_QUEUE]
            base = ["-m", "rq.cli", "worker", "-w", "rq.worker.SimpleWorker", "-u", url, "--quiet"]
            self.procs.append(start([*base, "--with-scheduler", *queues], d, url))
            self.procs.append(start([*base, *queues], d, url))
            wait_until(lambda: c.scard("rq:workers") == 2, 30, "RQ's 2 workers")
            wait_until(lambda: c.exists(f"rq:scheduler-lock:{QUEUE}"), 30, "RQ's scheduler")
        else:
            args = ["-n", "2", "--queue", QUEUE, "-r", "bench_jobs", "--no-fork", "--scheduler"]
            args += ["-p", str(d / "sched.pid"), "--interval", "5", "--redis", url]
            self.procs.append(spawn(args, d, url))
            wait_until(lambda: c.scard("resque:workers") == 2, 30, "our 2 workers")
            lock = "resque:resque:resque_scheduler_master_lock"
            wait_until(lambda: c.exists(lock), 30, "our mover's lock")

    def stop(self) -> None:
        stop(self.procs)
        self.procs.clear()

    def schedule(self, epoch: int, i: int) -> None:
        when = datetime.fromtimestamp(epoch, UTC)
        if self.rq:
            from rq import Queue

            Queue(QUEUE, connection=self.ctx.client).enqueue_at(when, "job_bodies.stamp", i)
        else:
            import resqued

            resqued.enqueue_at_with_queue(QUEUE, when, "Stamp", i)

    def write_burst(self, epoch: int, n: int) -> None:
        c = self.ctx.client
        if self.rq:
            from rq import Queue

            q = Queue(BURST_QUEUE, connection=c)
            when = datetime.fromtimestamp(epoch, UTC)
            for first in range(0, n, 1000):
                with c.pipeline() as pipe:
                    for i in range(first, min(n, first + 1000)):
                        q.enqueue_at(when, "job_bodies.noop", i, pipeline=pipe)
                    pipe.execute()
            return
        key = f"resque:delayed:{epoch}"
        for first in range(0, n, 1000):
            pipe = c.pipeline(transaction=False)
            items = [
                json.dumps(
                    {"class": "Noop", "args": [i], "queue": BURST_QUEUE}, separators=(",", ":")
                )
                for i in range(first, min(n, first + 1000))
            ]
            pipe.rpush(key, *items)
            for item in items:
                pipe.sadd(f"resque:timestamps:{item}", key)
            pipe.execute()
        c.zadd("resque:delayed_queue_schedule", {str(epoch): epoch})

    def burst_moved(self, epoch: int) -> bool:
        c = self.ctx.client
        if self.rq:
            return c.zcard(f"rq:scheduled:{BURST_QUEUE}") == 0
        return not c.exists(f"resque:delayed:{epoch}")


def flow(side: Side, rate: int, seconds: float) -> tuple[list[float], float]:
    """Lags (ms) of a steady flow of jobs due 2 s ahead, and Redis CPU per job (us)."""
    c = side.ctx.client
    c.delete("bench:starts")
    n = int(rate * seconds)
    due: dict[int, int] = {}
    cpu0 = redis_cpu(c)
    began = time.monotonic()
    for i in range(n):
        pause = began + i / rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        due[i] = int(time.time()) + 2
        side.schedule(due[i], i)
    wait_until(lambda: c.llen("bench:starts") >= n, 60, f"{n} delayed jobs started", 0.05)
    cpu = (redis_cpu(c) - cpu0) / n * 1e6
    lags = []
    for raw in c.lrange("bench:starts", 0, -1):
        i, at = raw.decode().split()
        if int(i) >= WARM_UP * rate:
            lags.append((float(at) - due[int(i)]) * 1000)
    return lags, cpu


def burst(side: Side, n: int) -> tuple[float, float, int]:
    """Seconds from the instant to the last of ``n`` jobs moved; the longest Redis call (ms)
    and the calls over 50 ms during the move (SLOWLOG)."""
    c = side.ctx.client
    epoch = int(time.time()) + 3 + n // 5_000
    side.write_burst(epoch, n)
    if time.time() >= epoch - 0.5:
        raise BenchError(f"writing {n} delayed jobs took past their time: use fewer")
    c.config_set("slowlog-log-slower-than", 1000)
    c.config_set("slowlog-max-len", 10_000)
    c.slowlog_reset()
    wait_until(lambda: time.time() >= epoch, 120, "the burst's instant", 0.001)
    done = wait_until(lambda: side.burst_moved(epoch), 600, f"{n} jobs moved", 0.005)
    late = time.time() - epoch - (time.monotonic() - done)
    slow = [int(e["duration"]) for e in c.slowlog_get(10_000)]
    c.config_set("slowlog-log-slower-than", 10_000)
    return late, max(slow, default=0) / 1000, sum(1 for us in slow if us > 50_000)


def run(ctx: Context, log: Any) -> list[Row]:
    rate, seconds, n, rounds = SIZES[ctx.settings.mode]
    sides = [False, True] if ctx.rq else [False]
    lag: dict[bool, list[list[float]]] = {s: [] for s in sides}
    cpu: dict[bool, list[float]] = {s: [] for s in sides}
    moved: dict[bool, list[tuple[float, float, int]]] = {s: [] for s in sides}
    import resqued

    resqued.connect(ctx.url)
    for r in range(rounds):
        for rq in sides:
            ctx.client.flushall()
            side = Side(ctx, rq)
            side.start()
            try:
                lags, per_job = flow(side, rate, seconds)
                lag[rq].append(lags)
                cpu[rq].append(per_job)
                moved[rq].append(burst(side, n))
            except redis.RedisError as exc:
                raise BenchError(f"redis: {exc}") from exc
            finally:
                side.stop()
            name = "RQ" if rq else "ours"
            log(
                f"round {r + 1} {name}: lag p50 {percentile(lags, 50):.0f} ms, p99 "
                f"{percentile(lags, 99):.0f} ms; {per_job:.0f} us/job; burst moved in "
                f"{moved[rq][-1][0]:.2f} s, longest call {moved[rq][-1][1]:.1f} ms"
            )
    return rows(lag, cpu, moved, rate, seconds, n)


def rows(
    lag: dict[bool, list[list[float]]],
    cpu: dict[bool, list[float]],
    moved: dict[bool, list[tuple[float, float, int]]],
    rate: int,
    seconds: float,
    n: int,
) -> list[Row]:
    peer = "RQ 3 `rq worker --with-scheduler` + 1 worker, `enqueue_at`"

    def theirs(values: dict[bool, list[Any]]) -> list[Any]:
        return values.get(True, [])

    missing = "" if theirs(lag) else "RQ not installed: peer not measured"

    def noted(*parts: str) -> str:
        return "; ".join(p for p in (*parts, missing) if p)

    flow_what = (
        f"{rate} jobs/s for {seconds:g} s, due 2 s ahead, the first {WARM_UP:g} s left out, "
        "2 workers in process"
    )
    out = []
    for pct in (50, 99):
        out.append(
            Row(
                "9",
                f"delayed job lag p{pct}, due time to start ({flow_what}; ms)",
                "ms",
                "lower",
                [percentile(x, pct) for x in lag[False]],
                peer,
                [percentile(x, pct) for x in theirs(lag)],
                note=noted(),
            )
        )
    out.append(
        Row(
            "9",
            f"Redis CPU per delayed job, delay + move + run ({rate} jobs/s for {seconds:g} s; us)",
            "us",
            "lower",
            cpu[False],
            peer,
            theirs(cpu),
            note=noted(),
        )
    )
    ours_moved, their_moved = moved[False], theirs(moved)
    out.append(
        Row(
            "9",
            f"{n:,} jobs due at one instant: time to move the last (s)",
            "s",
            "lower",
            [m[0] for m in ours_moved],
            peer,
            [m[0] for m in their_moved],
            note=noted("target: ours <= 2 s"),
        )
    )
    note = "calls over 50 ms, ours: " + ", ".join(str(m[2]) for m in ours_moved)
    if their_moved:
        note += "; RQ's: " + ", ".join(str(m[2]) for m in their_moved)
    out.append(
        Row(
            "9",
            f"{n:,} jobs due at one instant: longest Redis call while moving (SLOWLOG; ms)",
            "ms",
            "lower",
            [m[1] for m in ours_moved],
            peer,
            [m[1] for m in their_moved],
            note=noted(note + " (target: none over 50 ms; 0 ms: none over 1 ms)"),
        )
    )
    return out
