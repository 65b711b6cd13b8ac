"""No-op job throughput of `resqued work`, per mode and worker count, with Redis commands per job.

.venv/bin/python bench/worker_throughput.py [--jobs-fork 3000] [--jobs-inprocess 20000]
"""

from __future__ import annotations

import argparse
import time

from _common import redis_server, spawn, stop, table, wait_until

JOB_MODULE = """
import resqued

@resqued.job("Noop")
class Noop:
    @staticmethod
    def perform(*args):
        pass
"""
PAYLOAD = b'{"class":"Noop","args":[]}'


def run(client, url: str, tmp, mode: str, workers: int, jobs: int) -> list[object]:  # type: ignore[no-untyped-def]
    client.flushall()
    pipe = client.pipeline(transaction=False)
    for i in range(jobs):
        pipe.rpush("resque:queue:bench", PAYLOAD)
        if i % 5000 == 4999:
            pipe.execute()
    pipe.sadd("resque:queues", "bench")
    pipe.execute()
    client.config_resetstat()
    flag = "--fork" if mode == "fork per job" else "--no-fork"
    started = time.monotonic()
    procs = [
        spawn(["work", "-q", "bench", "-r", "bench_jobs", flag, "--redis", url], tmp, url)
        for _ in range(workers)
    ]
    processed = lambda: int(client.get("resque:stat:processed") or 0)  # noqa: E731
    try:
        first = wait_until(lambda: processed() > 0, 60, "the first job")
        last = wait_until(lambda: processed() >= jobs, 120, f"{jobs} jobs", step=0.005)
    finally:
        stop(procs)
    stats = client.info("commandstats")
    calls = sum(v["calls"] for v in stats.values())
    evals = sum(v["calls"] for k, v in stats.items() if k.startswith("cmdstat_eval"))
    rate = jobs / (last - first)
    return [
        mode,
        workers,
        jobs,
        f"{rate:,.0f}",
        f"{evals / jobs:.2f}",
        f"{calls / jobs:.1f}",
        f"{first - started:.2f}",
    ]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs-fork", type=int, default=3000)
    p.add_argument("--jobs-inprocess", type=int, default=20000)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument(
        "--modes",
        nargs="+",
        default=["in-process", "fork per job"],
        choices=["in-process", "fork per job"],
    )
    args = p.parse_args()
    rows = []
    with redis_server() as (client, url, tmp):
        (tmp / "bench_jobs.py").write_text(JOB_MODULE)
        for mode in args.modes:
            jobs = args.jobs_fork if mode == "fork per job" else args.jobs_inprocess
            for workers in args.workers:
                rows.append(run(client, url, tmp, mode, workers, jobs))
                print(f"  {rows[-1][0]}, {workers} worker(s): {rows[-1][3]} jobs/s", flush=True)
    print()
    print(
        table(
            [
                "mode",
                "workers",
                "jobs",
                "jobs/s",
                "round trips/job",
                "Redis commands/job (in script too)",
                "startup s",
            ],
            rows,
        )
    )
    print(
        "\nReference on a 2-core machine: RQ worker pool ~750 jobs/s (non-forking, 57 "
        "commands/job), ~170 jobs/s forking. Targets: 7,500 and 680."
    )


if __name__ == "__main__":
    main()
