"""Rows 1-3: drains of no-op jobs, ours and RQ's, in process and fork per job; the fork limit.

Every round runs, back to back: ours in process, RQ's SimpleWorker pool, ours
fork per job, RQ's forking pool, the bare fork loop. Each side has the same
number of worker processes and the same no-op job.
"""

from __future__ import annotations

from typing import Any

from bench import fork_loop
from bench.measure import Drain, drain
from bench.peers import RQ, Ours
from bench.settings import Context
from bench.stats import Row

RQ_SIMPLE = "RQ worker-pool, SimpleWorker"
RQ_FORK = "RQ worker-pool, Worker (fork per job)"
NO_RQ = "RQ not installed: peer not measured"
TARGET_CPU = "target: ours <= 30 us"


def run(ctx: Context, rows: set[str], log: Any) -> list[Row]:
    s = ctx.settings
    w = s.workers
    want_rq = ctx.rq and bool(rows & {"1", "3"})
    want_fork = bool(rows & {"1", "2", "3"})
    want_inprocess = bool(rows & {"1", "3"})
    runs: dict[str, list[Drain]] = {"in": [], "rq_in": [], "fork": [], "rq_fork": []}
    bare: list[float] = []
    c, url, d = ctx.client, ctx.url, ctx.app_dir
    for r in range(s.rounds):
        if want_inprocess:
            runs["in"].append(drain(c, Ours(c, url, d, w, fork=False), "noop", s.inprocess_jobs))
            log(f"round {r + 1}: ours in process {runs['in'][-1].rate:,.0f} jobs/s")
        if want_inprocess and want_rq:
            runs["rq_in"].append(drain(c, RQ(c, url, d, w, fork=False), "noop", s.rq_simple_jobs))
            log(f"round {r + 1}: RQ SimpleWorker {runs['rq_in'][-1].rate:,.0f} jobs/s")
        if want_fork:
            runs["fork"].append(drain(c, Ours(c, url, d, w, fork=True), "noop", s.fork_jobs))
            log(f"round {r + 1}: ours fork per job {runs['fork'][-1].rate:,.0f} jobs/s")
        if want_fork and want_rq:
            runs["rq_fork"].append(drain(c, RQ(c, url, d, w, fork=True), "noop", s.rq_fork_jobs))
            log(f"round {r + 1}: RQ forking {runs['rq_fork'][-1].rate:,.0f} jobs/s")
        if "2" in rows:
            bare.append(fork_loop.measure(d, url, w, s.bare_forks))
            log(f"round {r + 1}: bare fork loop {bare[-1]:,.0f} forks/s")
    out: list[Row] = []
    jobs = f"{w} workers a side, no-op job"
    if "1" in rows:
        out.append(_row("1", f"in-process drain, {jobs} (jobs/s)", runs, "in", "rate", RQ_SIMPLE))
        out.append(_row("1", f"fork-per-job drain, {jobs} (jobs/s)", runs, "fork", "rate", RQ_FORK))
    if "2" in rows:
        out.append(
            Row(
                "2",
                f"fork-per-job drain vs bare fork+_exit+waitpid loop, {w} processes (jobs/s)",
                "jobs/s",
                "higher",
                [d.rate for d in runs["fork"]],
                "bare fork loop (forks/s)",
                bare,
                note="target: ours >= 0.80 x the bare loop",
            )
        )
    if "3" in rows:
        for key, mode, peer in (("in", "in process", RQ_SIMPLE), ("fork", "fork per job", RQ_FORK)):
            out += [
                _row("3", f"Redis round trips per job, {mode}", runs, key, "rt", peer),
                _row("3", f"Redis commands per job (Lua included), {mode}", runs, key, "cmd", peer),
                _row("3", f"Redis CPU per job (us), {mode}", runs, key, "cpu", peer, TARGET_CPU),
            ]
    return out


def _row(
    num: str,
    measure: str,
    runs: dict[str, list[Drain]],
    key: str,
    what: str,
    peer: str,
    target: str = "",
) -> Row:
    def figure(d: Drain) -> float:
        return {
            "rate": d.rate,
            "rt": d.round_trips_per_job,
            "cmd": d.commands_per_job,
            "cpu": d.cpu_us_per_job,
        }[what]

    ours, theirs = runs[key], runs["rq_" + key]
    return Row(
        num,
        measure,
        {"rate": "jobs/s", "rt": "round trips", "cmd": "commands", "cpu": "us"}[what],
        "higher" if what == "rate" else "lower",
        [figure(d) for d in ours],
        peer,
        [figure(d) for d in theirs],
        note="; ".join(n for n in (target, "" if theirs else NO_RQ) if n),
        extra={"ours": [d.to_json() for d in ours], "peer": [d.to_json() for d in theirs]}
        if what == "rate"
        else {},
    )
