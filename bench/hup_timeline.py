"""``python -m bench.hup_timeline 32x32``: where the time goes when every master gets HUP at once.

Starts its own Redis and a fleet (``bench.fleet``), puts it under a steady
flow of 5 ms jobs, HUPs one master and then every master at once, and prints
a timeline in 100 ms steps from each HUP: the jobs started, the workers
blocked in their idle wait (Redis's ``blocked_clients``: the workers ready
to take a job), the queue's length, the listeners that got ready (from the
masters' logs), the old workers that exited (pidfds), the new workers forked
(their start time in ``/proc``), the machine's busy cores and redis-server's
CPU.  A profile, not a row: what it prints explains the deploy rows of the
scale row (docs/scale.md).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import signal
import sys
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import redis

from bench._common import redis_server, text
from bench.fleet import Fleet
from bench.peers import write_jobs
from bench.scale_deploy import Load, longest_gap, raise_priority, settled

STEP = 0.1
TICK = os.sysconf("SC_CLK_TCK")
READY = re.compile(r"^(\S+ \S+) .* is ready with")


class Probe:
    """Redis's blocked clients, queue length and CPU, and the machine's CPU, every 10 ms."""

    def __init__(self, url: str, queue: str) -> None:
        self.client = redis.Redis.from_url(url, client_name="bench")
        self.queue = f"resque:queue:{queue}"
        self.samples: list[tuple[float, int, int, float, float]] = []
        self.halt = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        raise_priority()
        while not self.halt.wait(0.01):
            pipe = self.client.pipeline(transaction=False)
            pipe.info("clients")
            pipe.info("cpu")
            pipe.llen(self.queue)
            clients, cpu, depth = pipe.execute()
            busy = _machine_busy()
            redis_cpu = float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"])
            self.samples.append(
                (time.time(), int(clients["blocked_clients"]), int(depth), redis_cpu, busy)
            )


def _machine_busy() -> float:
    """CPU seconds the machine's cores spent busy so far (from /proc/stat)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    ticks = [int(x) for x in fields]
    return (sum(ticks) - ticks[3] - ticks[4]) / TICK


def exits(pids: list[int], out: dict[int, float], halt: threading.Event) -> None:
    """Record when each of ``pids`` ends (its pidfd becomes readable)."""
    fds: dict[int, int] = {}
    for pid in pids:
        try:
            fds[os.pidfd_open(pid)] = pid
        except OSError:
            out[pid] = time.time()
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    while fds and not halt.is_set():
        for fd, _ in poller.poll(50):
            out[fds.pop(fd)] = time.time()
            poller.unregister(fd)
            os.close(fd)
    for fd in fds:
        os.close(fd)


def _stat(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return []


def born(pid: int, boot: float) -> float:
    fields = _stat(pid)
    return boot + int(fields[19]) / TICK if fields else 0.0


def cpu_ms(pid: int) -> float:
    """CPU a process has used so far, in ms (``/proc/PID/schedstat``: nanoseconds on a CPU)."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e6
    except (OSError, ValueError, IndexError):
        return 0.0


def listeners(fleet: Fleet, masters: list[int]) -> list[int]:
    from bench._common import children, title

    return [p for m in masters for p in children(m) if " listener #" in title(p)]


def ready_times(fleet: Fleet, since: float) -> list[float]:
    out = []
    for m in range(fleet.masters):
        for line in fleet.log_path(m).read_text(errors="replace").splitlines():
            found = READY.match(line)
            if found:
                stamp = datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
                if stamp >= since:
                    out.append(stamp)
    return out


def hup(fleet: Fleet, masters: int, load: Load, probe: Probe, boot: float) -> dict[str, Any]:
    pids = fleet.master_pids()[:masters]
    before = fleet.worker_pids(pids)
    gone: dict[int, float] = {}
    halt = threading.Event()
    watcher = threading.Thread(target=exits, args=(before, gone, halt), daemon=True)
    watcher.start()
    at = time.time()
    fleet.signal_all(signal.SIGHUP, masters)
    while not settled(fleet, set(before), pids) and time.time() - at < 300:
        time.sleep(0.1)  # profile: poll until the masters run only new workers
    done = time.time()
    new = fleet.worker_pids(pids)
    cpu = {"new worker": [cpu_ms(p) for p in new], "new listener": []}
    cpu["new listener"] = [cpu_ms(p) for p in listeners(fleet, pids)]
    time.sleep(1.0)  # profile: the flow after the last hand-over
    halt.set()
    watcher.join()
    return {
        "cpu_ms": cpu,
        "at": at,
        "settled_s": done - at,
        "ready": ready_times(fleet, at),
        "exits": sorted(gone.values()),
        "forks": sorted(born(p, boot) for p in new),
        "end": time.time(),
    }


def timeline(run: dict[str, Any], starts: list[float], probe: Probe) -> list[str]:
    at = run["at"]

    def bucket(t: float) -> int:
        return int((t - at) / STEP)

    n = bucket(run["end"]) + 1
    counts = {k: Counter(bucket(t) for t in run[k]) for k in ("ready", "exits", "forks")}
    jobs = Counter(bucket(t) for t in starts if at <= t <= run["end"])
    rows = [
        "   t(s)  jobs  ready-waiting(min)  queued(max)  listeners  old-exited  new-forked  "
        "cores-busy  redis-cpu%"
    ]
    samples = [s for s in probe.samples if at - STEP <= s[0] <= run["end"]]
    for b in range(n):
        inside = [s for s in samples if bucket(s[0]) == b]
        if len(inside) < 2:
            continue
        first, last = inside[0], inside[-1]
        span = max(last[0] - first[0], 1e-3)
        rows.append(
            f"{b * STEP:7.1f} {jobs[b]:5d} {min(s[1] for s in inside):19d} "
            f"{max(s[2] for s in inside):12d} {counts['ready'][b]:10d} {counts['exits'][b]:11d} "
            f"{counts['forks'][b]:11d} {(last[4] - first[4]) / span:11.2f} "
            f"{100 * (last[3] - first[3]) / span:11.1f}"
        )
    return rows


def summary(run: dict[str, Any]) -> str:
    at = run["at"]

    def spread(name: str) -> str:
        times = sorted(t - at for t in run[name])
        if not times:
            return f"{name}: none"
        mid = times[len(times) // 2]
        return f"{name} {len(times)}: {times[0]:.2f}-{times[-1]:.2f} s (median {mid:.2f})"

    forks = sorted(run["forks"])
    span = forks[-1] - forks[0] if len(forks) > 1 else 0.0
    rate = (len(forks) - 1) / span if span > 0 else 0.0
    cpu = "; ".join(
        f"{k} CPU {sum(v) / len(v):.0f} ms each ({sum(v) / 1000:.1f} s in all)"
        for k, v in run["cpu_ms"].items()
        if v
    )
    return (
        f"listeners ready ({spread('ready')}); old workers exited ({spread('exits')}); new "
        f"workers forked ({spread('forks')}), {rate:.0f} a second; {cpu}"
    )


def _size(p: argparse.ArgumentParser, text: str) -> tuple[int, int]:
    found = re.fullmatch(r"(\d+)x(\d+)", text)
    if not found or not all(0 < int(g) <= 1024 for g in found.groups()):
        p.error(f"{text!r} is not MASTERSxWORKERS (e.g. 32x32)")
    return int(found.group(1)), int(found.group(2))


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.hup_timeline", description=__doc__)
    p.add_argument("size", help="MASTERSxWORKERS, e.g. 32x32")
    p.add_argument("--rate", type=float, default=200.0, help="jobs/s (default 200)")
    p.add_argument("--keys", type=int, default=0, help="unrelated keys in the database")
    p.add_argument("--json", type=Path, help="write the raw timeline here")
    p.add_argument(
        "--nice-redis",
        action="store_true",
        help="run redis-server at nice -10 (as if it had a host of its own)",
    )
    args = p.parse_args(argv)
    masters, workers = _size(p, args.size)
    signal.signal(signal.SIGTERM, _interrupted)  # stop the fleet (finally) on SIGTERM too
    boot = time.time() - float(Path("/proc/uptime").read_text().split()[0])
    with redis_server() as (client, url, tmp):
        write_jobs(tmp)
        fleet = Fleet(url, tmp, masters, workers, name="timeline")
        fleet.start()
        try:
            fleet.wait_registered(client, 600)
            if args.keys:
                client.execute_command("DEBUG", "POPULATE", args.keys, "unrelated", 16)  # type: ignore[no-untyped-call]
            time.sleep(3)  # profile: the fleet settles into its idle wait
            raise_priority()  # this thread too: the others wait for the GIL it holds
            if args.nice_redis:
                pid = int(client.info("server")["process_id"])
                os.setpriority(os.PRIO_PROCESS, pid, -10)
            probe = Probe(url, fleet.queue)
            probe.thread.start()
            runs = {}
            with Load(fleet, args.rate) as load:
                time.sleep(2)  # profile: steady flow first
                runs["one master"] = hup(fleet, 1, load, probe, boot)
                time.sleep(2)  # profile: steady flow between the two
                runs["every master"] = hup(fleet, masters, load, probe, boot)
            probe.halt.set()
            records = [text(x).split() for x in client.lrange("bench:starts", 0, -1)]
            starts = sorted(float(r[1]) for r in records)
            sent = [(float(r[2]), float(r[1])) for r in records]
        finally:
            fleet.stop()
    for name, run in runs.items():
        gap = longest_gap(starts, run["at"], run["end"]) * 1000
        wait = max((s - q for q, s in sent if run["at"] <= q <= run["end"]), default=0) * 1000
        print(
            f"\n# HUP of {name}: settled in {run['settled_s']:.2f} s, longest gap {gap:.0f} ms, "
            f"longest a job waited {wait:.0f} ms"
        )
        print(summary(run))
        print("\n".join(timeline(run, starts, probe)))
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "starts": starts, "probe": probe.samples}))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("hup_timeline: interrupted; every process it started is stopped", file=sys.stderr)
        sys.exit(130)
