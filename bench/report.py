"""What a run prints and writes: the machine, the versions, a Markdown table, the JSON."""

from __future__ import annotations

import json
import os
import platform
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import redis

from bench.stats import Row


def machine() -> dict[str, Any]:
    """CPU, memory and kernel, from /proc; ``virtual`` when the CPU reports a hypervisor."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    fields = [line.partition(":") for line in cpuinfo.splitlines()]
    first = {k.strip(): v.strip() for k, _, v in fields}
    meminfo = {
        k.strip(): v.strip() for k, _, v in (x.partition(":") for x in _lines("/proc/meminfo"))
    }
    mem_kb = int(meminfo.get("MemTotal", "0 kB").split()[0])
    return {
        "cpu": first.get("model name", platform.processor() or "unknown"),
        "cores": sum(1 for k, _, _ in fields if k.strip() == "processor"),
        "cpu_mhz": first.get("cpu MHz"),
        "virtual": "hypervisor" in first.get("flags", "").split(),
        "memory_gib": round(mem_kb / 1024**2, 1),
        "kernel": platform.release(),
        "load_average": list(os.getloadavg()),
    }


def _lines(path: str) -> list[str]:
    return Path(path).read_text().splitlines()


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def versions(client: redis.Redis) -> dict[str, Any]:
    from resqued.version import __version__

    server: dict[str, Any] = client.info("server")
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "redis_server": server.get("redis_version"),
        "redis_py": _version("redis"),
        "hiredis": _version("hiredis"),
        "resqued": __version__,
        "rq": _version("rq"),
    }


def describe(m: dict[str, Any], v: dict[str, Any]) -> str:
    kind = ", virtual machine" if m["virtual"] else ""
    return (
        f"{m['cores']} x {m['cpu']}{kind}, {m['memory_gib']} GiB, Linux {m['kernel']}; "
        f"{v['python']}, Redis {v['redis_server']}, redis-py {v['redis_py']}"
        f"{', hiredis ' + v['hiredis'] if v['hiredis'] else ''}, resqued {v['resqued']}, "
        f"RQ {v['rq'] or 'not installed'}"
    )


def fmt(x: float) -> str:
    a = abs(x)
    if a >= 100:
        return f"{x:,.0f}"
    return f"{x:.1f}" if a >= 10 else f"{x:.2f}"


def cell(samples: list[float], ratio: bool = False) -> str:
    if not samples:
        return "n/a"
    ordered = sorted(samples)
    mid = len(ordered) // 2
    median = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    x = "x" if ratio else ""
    if len(samples) == 1 or ordered[0] == ordered[-1]:
        return f"{fmt(median)}{x}"
    return f"{fmt(median)}{x} ({fmt(ordered[0])}-{fmt(ordered[-1])})"


HEADERS = ["#", "measure", "ours", "peer or limit", "theirs", "ours / theirs", "rounds", "note"]


def table(rows: list[Row]) -> str:
    """A Markdown table: medians with (min-max) over the rounds."""
    cells = [
        [
            r.row,
            r.measure,
            cell(r.ours),
            r.peer_name or "-",
            cell(r.peer) if r.peer else "n/a",
            cell(r.ratios(), ratio=True) if r.peer else "n/a",
            str(len(r.ours)),
            r.note,
        ]
        for r in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(HEADERS)]

    def line(values: list[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(HEADERS), rule, *(line(c) for c in cells)])


def document(
    date: datetime,
    mode: str,
    settings: str,
    m: dict[str, Any],
    v: dict[str, Any],
    rows: list[Row],
    failures: dict[str, str],
    seconds: float,
) -> dict[str, Any]:
    return {
        "date": date.isoformat(timespec="seconds"),
        "mode": mode,
        "settings": settings,
        "seconds": round(seconds, 1),
        "machine": m,
        "machine_description": describe(m, v),
        "versions": v,
        "rows": [r.to_json() for r in rows],
        "not_measured": failures,
    }


def write(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n")
