"""``resqued status`` as text: masters grouped by host with their listener and workers,
then queues, then recent failures."""

from __future__ import annotations

from resqued.fleet import fmt, scheduler
from resqued.fleet.model import Fleet, Master, Worker


def render(fleet: Fleet) -> str:
    now = fleet.taken_at
    s = fleet.stats
    out = [
        f"{fleet.redis} (namespace {fleet.namespace}) at {fmt.utc(now)}",
        f"processed {s.processed}, failed {s.failed} (failed list {s.failed_list}); "
        f"pending {s.pending}; workers {s.workers}, {s.working} working",
    ]
    if fleet.scheduler is not None and fleet.scheduler.active:
        out.append(scheduler.summary(fleet.scheduler))
    if fleet.paused_all:
        out.append("PAUSED: all workers (pause-all-workers; resume: resqued resume --all)")
    for host in fleet.hosts():
        out.append("")
        out.extend(_host(fleet, host, now))
    if not fleet.hosts():
        out += ["", "no masters, no workers"]
    out += ["", f"queues ({len(fleet.queues)})"]
    width = max((len(q.name) for q in fleet.queues), default=0)
    out += [f"  {q.name:<{width}}  {q.depth:>7}" for q in fleet.queues]
    out += ["", _failures_title(fleet)]
    iw = max((len(str(f.index)) for f in fleet.failures), default=1)
    for f in fleet.failures:
        retried = f", retried {fmt.utc(f.retried_at)}" if f.retried_at else ""
        out.append(
            f"  #{f.index:<{iw}}  {f.failed_at_text or '?'}  {f.queue or '?'}  "
            f"{f.class_name or '?'}  {f.exception or '?'}: {_line(f.error)}{retried}"
        )
    return "\n".join(fmt.printable(line) for line in out) + "\n"


def _failures_title(fleet: Fleet) -> str:
    n, total = len(fleet.failures), fleet.stats.failed_list
    if not total:
        return "failures (none)"
    if not n:
        return f"failures ({total}; see resqued failed list)"
    return f"failures (newest {n} of {total}; more: resqued failed list)"


def _line(text: str, limit: int = 100) -> str:
    first = text.splitlines()[0] if text else ""
    return first if len(first) <= limit else first[: limit - 3] + "..."


def _host(fleet: Fleet, host: str, now: float) -> list[str]:
    out = [f"host {host}"]
    late = fleet.unreachable(host)
    if late is not None:
        silent = late.silent_for(now) or 0.0
        out[0] += f"  UNREACHABLE: no beat for {fmt.duration(silent)} (beats every {late.every:g}s)"
    masters = [m for m in fleet.masters if m.host == host]
    for m in masters:
        out.extend(_master(m, now))
        out.extend(_workers([w for w in fleet.workers if w.master == m.id], "    "))
    others = [w for w in fleet.workers if w.host == host and w.master is None]
    if others:
        out.append("  workers of no resqued master" if masters else "  workers")
        out.extend(_workers(others, "    "))
    return out


def _master(m: Master, now: float) -> list[str]:
    head = (
        f"  master {m.pid}  resqued {m.version or '?'}  gen {m.generation}  {m.state}"
        f"  up {fmt.duration(now - m.started_at) if m.started_at else '?'}"
    )
    if m.paused:
        head += "  PAUSED"
    lines = [head]
    if m.config:
        lines.append(f"    config {' '.join(m.config)}")
    lines.append(
        f"    {fmt.listener(m)}; workers {m.workers.running} running of "
        f"{m.workers.configured}; {fmt.last_reload(m, now)}"
    )
    if any(m.replacements.values()):
        lines.append(f"    replacements: {fmt.replacements(m)}")
    return lines


def _workers(workers: list[Worker], indent: str) -> list[str]:
    if not workers:
        return [indent + "(no registered workers)"]
    rows = []
    for w in workers:
        pid = f"{w.pid if w.pid is not None else '?'}" + (f"#{w.thread}" if w.thread else "")
        rows.append((pid, ",".join(w.queues), w.state, fmt.worker_doing(w), w))
    wp = max(len(r[0]) for r in rows)
    wq = max(len(r[1]) for r in rows)
    wd = max(len(r[3]) for r in rows)
    return [
        f"{indent}{pid:<{wp}}  {queues:<{wq}}  {state:<8}  {doing:<{wd}}  "
        f"processed {w.processed} failed {w.failed}".rstrip()
        for pid, queues, state, doing, w in rows
    ]
