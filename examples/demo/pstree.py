"""Print a process and its descendants as a tree, read from /proc (no procps needed).

    python examples/demo/pstree.py PID

The same layout as ``ps --forest -o pid=,ppid=,args=``: resqued's process titles
show what each master, listener and worker is doing.
"""

from __future__ import annotations

import os
import sys


def processes() -> dict[int, tuple[int, str]]:
    """pid -> (ppid, command line) of every process we can read."""
    table: dict[int, tuple[int, str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().decode(errors="replace")
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                raw = f.read()
        except OSError:  # exited while we looked
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        args = raw.replace(b"\0", b" ").decode(errors="replace").strip()
        table[int(entry)] = (ppid, args)
    return table


def lines(root: int, table: dict[int, tuple[int, str]]) -> list[str]:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in sorted(table.items()):
        children.setdefault(ppid, []).append(pid)
    out: list[str] = []

    def walk(pid: int, prefix: str, branch: str, more_prefix: str) -> None:
        ppid, args = table[pid]
        out.append(f"{pid:>6} {ppid:>6} {prefix}{branch}{args}")
        kids = children.get(pid, [])
        for i, kid in enumerate(kids):
            last = i == len(kids) - 1
            walk(kid, prefix + more_prefix, " \\_ ", "    " if last else " |  ")

    if root in table:
        walk(root, "", "", "")
    return out


def main() -> int:
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        print("usage: pstree.py PID", file=sys.stderr)
        return 2
    print("\n".join(lines(int(sys.argv[1]), processes())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
