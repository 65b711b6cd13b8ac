"""The scale row's figures as report rows, and its operator views as a table of their own."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bench.redis_cost import Cost
from bench.report import fmt
from bench.scale_deploy import Storm
from bench.scale_fleet import Figures
from bench.scale_views import View
from bench.stats import Row

if TYPE_CHECKING:
    from bench.scale import Results
    from bench.settings import Context

CONNECTIONS_TARGET = 2.0
GAP_TARGET_MS = 500.0


def rows(res: Results, ctx: Context) -> list[Row]:
    s = res.settings
    out: list[Row] = []
    for mode in ("in process", "fork per job"):
        big, ref = res.fleets.get(f"big {mode}"), res.fleets.get(f"ref {mode}")
        if big and ref:
            out += _fleet_rows(big, ref, f"{s.masters} x {s.workers} workers {mode}", s.ref_workers)
    for keys, storm in sorted(res.storms.items()):
        out += _storm_rows(storm, res, keys)
    if out:
        out[0].extra = {
            "settings": s.describe(),
            "fleets": {k: v.to_json() for k, v in res.fleets.items()},
            "storms": {str(k): v.to_json() for k, v in res.storms.items()},
            "views": [v.to_json() for v in res.views],
            "failed_views_theirs": _plain(res.theirs),
            "notes": res.notes,
        }
    ctx.sections.append(("Scale row: operator views", views_table(res)))
    if res.notes:
        ctx.sections.append(("Scale row: notes", "\n".join(f"- {n}" for n in res.notes)))
    return out


def _fleet_rows(big: Figures, ref: Figures, what: str, n: int) -> list[Row]:
    peer = f"1 master x {n} workers, same run"
    hosts = (
        f"{big.hosts} hosts registered"
        if big.hosts > 1
        else "one host name for every master ($RESQUED_HOSTNAME not honoured by this resqued)"
    )
    by_cmd = ", ".join(f"{k} {v}" for k, v in list(big.clients_by_command.items())[:4])
    drain = big.drain or Cost()
    slow = f"{len(drain.slow)} Redis calls over 10 ms (slowest {drain.slowest_ms:.1f} ms)"

    def row(measure: str, unit: str, better: str, ours: float, ref: float, note: str = "") -> Row:
        return Row("10", f"{what}: {measure}", unit, better, [ours], peer, [ref], note)

    return [
        row("start to all registered (s)", "s", "lower", big.start_s, ref.start_s, hosts),
        row("idle Redis CPU (% of one core)", "%", "lower", big.idle_cpu_pct, ref.idle_cpu_pct),
        row(
            "idle Redis commands per worker per minute",
            "commands",
            "lower",
            big.idle_commands_per_worker_min,
            ref.idle_commands_per_worker_min,
        ),
        row(
            "Redis connections per worker (masters and listeners included)",
            "connections",
            "lower",
            big.connections_per_worker,
            ref.connections_per_worker,
            f"{big.connections:,} clients; target <= {CONNECTIONS_TARGET:g} a worker; "
            f"by last command: {by_cmd}",
        ),
        row("enqueue-to-start p50, idle (ms)", "ms", "lower", big.p50_ms, ref.p50_ms),
        row("enqueue-to-start p99, idle (ms)", "ms", "lower", big.p99_ms, ref.p99_ms),
        row("drain of no-op jobs (jobs/s)", "jobs/s", "higher", big.drain_jobs_s, ref.drain_jobs_s),
        row(
            "drain: Redis CPU per job (us)",
            "us",
            "lower",
            big.drain_cpu_us,
            ref.drain_cpu_us,
            slow,
        ),
    ]


def _storm_rows(storm: Storm, res: Results, keys: int) -> list[Row]:
    s = res.settings
    w = s.masters * s.workers
    load = f"{s.masters} masters, {w:,} workers in process, {s.deploy_rate:g} jobs/s"
    load += f", {keys:,} unrelated keys" if keys else ""
    hup = storm.hup or Cost()
    settled = (
        f"settled in {storm.settle_s:.1f} s"
        if storm.settled
        else f"NOT settled within {storm.settle_s:.0f} s"
    )
    note = (
        f"{settled}; {storm.sent:,} jobs: lost {storm.lost}, twice {storm.twice}; steady window "
        f"{fmt(storm.gaps_ms.get('steady', 0))} ms; Redis during the HUP: CPU "
        f"{hup.cpu_s:.1f} s, {hup.calls:,} commands, {len(hup.slow)} calls over 10 ms"
        + (f" (slowest {hup.slowest_ms:.0f} ms)" if hup.slow else "")
    )
    one = "HUP of one master, same fleet"
    out = [
        Row(
            "10",
            f"deploy storm, HUP of every master at once ({load}): longest gap with no job "
            "started (ms)",
            "ms",
            "lower",
            [storm.gaps_ms["HUP"]],
            one,
            [storm.gaps_ms["HUP one"]],
            f"target <= {GAP_TARGET_MS:g} ms; " + note,
        ),
        Row(
            "10",
            f"deploy storm, HUP of every master ({load}): longest a job waited to start (ms)",
            "ms",
            "lower",
            [storm.waits_ms["HUP"]],
            one,
            [storm.waits_ms["HUP one"]],
            f"steady window: {fmt(storm.waits_ms.get('steady', 0))} ms",
        ),
        Row(
            "10",
            f"deploy storm, HUP of every master ({load}): fewest worker processes",
            "workers",
            "higher",
            [float(storm.fewest["HUP"])],
            "configured minus one per master",
            [float(w - s.masters)],
            f"fewest registered in Redis {storm.fewest_registered['HUP']:,}, fewest in their "
            f"idle wait {storm.fewest_waiting['HUP']:,} of {w:,}; HUP of one master: "
            f"{storm.fewest['HUP one']:,} processes, {storm.fewest_registered['HUP one']:,} "
            f"registered, {storm.fewest_waiting['HUP one']:,} waiting, settled in "
            f"{storm.one_settle_s:.1f} s",
        ),
    ]
    if "USR2" in storm.gaps_ms:
        out.append(
            Row(
                "10",
                f"deploy storm, USR2 of every master at once ({load}): longest gap (ms)",
                "ms",
                "lower",
                [storm.gaps_ms["USR2"]],
                "steady window before it",
                [storm.gaps_ms["steady3"]],
                f"fewest workers {storm.fewest['USR2']:,} of {w:,}, fewest in their idle wait "
                f"{storm.fewest_waiting['USR2']:,}; workers kept: {storm.kept}; longest a job "
                f"waited {fmt(storm.waits_ms['USR2'])} ms",
            )
        )
    return out


def views_table(res: Results) -> str:
    """One line per view and failed-list size: wall time and Redis cost, without and with keys."""
    by_key: dict[tuple[str, int], dict[int, View]] = {}
    for v in res.views:
        by_key.setdefault((v.name, v.size), {})[v.keys] = v
    keys = sorted({v.keys for v in res.views})
    head = ["view", "failed records"]
    for k in keys:
        tag = f" ({k:,} keys)" if k else ""
        head += [f"ms{tag}", f"commands{tag}", f"Redis CPU ms{tag}", f"calls > 10 ms{tag}"]
    lines = []
    order = list(dict.fromkeys(v.name for v in res.views))
    ranked = sorted(by_key.items(), key=lambda kv: (kv[0][1], order.index(kv[0][0])))
    for (name, size), found in ranked:
        cells = [name, f"{size:,}"]
        for k in keys:
            seen = found.get(k)
            if seen is None:
                cells += ["-"] * 4
                continue
            cost = seen.cost
            slow = f"{len(cost.slow)} ({cost.slowest_ms:.0f} ms)" if cost.slow else "0"
            cells += [fmt(seen.wall_ms), f"{cost.calls:,}", fmt(cost.cpu_s * 1000), slow]
        lines.append(cells)
    if not lines:
        return "(no views measured)"
    widths = [max(len(h), *(len(c[i]) for c in lines)) for i, h in enumerate(head)]

    def line(values: list[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(head), rule, *(line(c) for c in lines)])


def _plain(value: Any) -> Any:
    """``failed_views.measure``'s answer as JSON can hold it."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "to_json"):
        return value.to_json()
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return repr(value)
