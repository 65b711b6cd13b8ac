"""Queue lists: literal names, fnmatch patterns and ``!`` exclusions.

Patterns are expanded inside Redis by the reserve script on every reserve, so
the Python side only translates each glob into an anchored Lua pattern.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

GLOB_CHARS = set("*?[]{}")
_LUA_MAGIC = set("^$()%.[]*+-?")


def is_pattern(name: str) -> bool:
    return any(c in GLOB_CHARS for c in name)


def expand_braces(pattern: str) -> list[str]:
    """``a{b,c}d`` -> ``[abd, acd]`` (Ruby's File::FNM_EXTGLOB), nested braces included."""
    m = re.search(r"\{([^{}]*)\}", pattern)
    if not m:
        return [pattern]
    head, tail = pattern[: m.start()], pattern[m.end() :]
    out: list[str] = []
    for alt in m.group(1).split(","):
        out.extend(e for e in expand_braces(head + alt + tail) if e not in out)
    return out


def _class_end(glob: str, i: int) -> int:
    """Index of the ``]`` closing the class opened at ``glob[i]``, or -1."""
    j = i + 1
    if glob[j : j + 1] in ("!", "^"):
        j += 1
    if glob[j : j + 1] == "]":
        j += 1
    return glob.find("]", j)


def glob_to_lua(glob: str) -> str:
    """An fnmatch glob (no braces) as an anchored Lua pattern."""
    out = ["^"]
    i, n = 0, len(glob)
    while i < n:
        c = glob[i]
        end = _class_end(glob, i) if c == "[" else -1
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif end > 0:
            body = glob[i + 1 : end]
            negate = body[:1] in ("!", "^")
            if negate:
                body = body[1:]
            escaped = "".join("%" + ch if ch in "%]^[" else ch for ch in body)
            out.append("[" + ("^" if negate else "") + escaped + "]")
            i = end
        elif c in _LUA_MAGIC:
            out.append("%" + c)
        else:
            out.append(c)
        i += 1
    out.append("$")
    return "".join(out)


@dataclass(frozen=True)
class QueueList:
    """A worker's queues in priority order, as given (``high``, ``mail_*``, ``!low``)."""

    names: tuple[str, ...]

    @classmethod
    def parse(cls, names: list[str] | tuple[str, ...] | str) -> QueueList:
        if isinstance(names, str):
            names = names.split(",")
        cleaned = tuple(n.strip() for n in names if n and n.strip())
        return cls(cleaned or ("*",))

    @property
    def includes(self) -> list[str]:
        inc = [n for n in self.names if not n.startswith("!")]
        return inc or ["*"]

    @property
    def excludes(self) -> list[str]:
        return [n[1:] for n in self.names if n.startswith("!") and len(n) > 1]

    def __str__(self) -> str:
        return ",".join(self.names)

    @staticmethod
    def _spec(name: str) -> list[str]:
        if not is_pattern(name):
            return ["=" + name]
        # One spec per name, so the script sorts all the name's matches together, as
        # Ruby does: ``{c,a}`` -> a, c.  NUL separates the brace alternatives.
        return ["~" + "\0".join(glob_to_lua(g) for g in expand_braces(name))]

    def script_args(self) -> list[str]:
        """ARGV tail for the reserve script: counts, then include and exclude specs."""
        inc = [s for n in self.includes for s in self._spec(n)]
        exc = [s for n in self.excludes for s in self._spec(n)]
        return [str(len(inc)), str(len(exc)), *inc, *exc]

    def resolve(self, known: list[str] | set[str]) -> list[str]:
        """The concrete queues, in priority order, given the names in ``queues`` (Python side)."""
        ordered: list[str] = []
        known_sorted = sorted(known)

        def excluded(q: str) -> bool:
            return any(fnmatch.fnmatchcase(q, g) for e in self.excludes for g in expand_braces(e))

        for name in self.includes:
            if is_pattern(name):
                cands = [
                    q
                    for q in known_sorted
                    if any(fnmatch.fnmatchcase(q, g) for g in expand_braces(name))
                ]
            else:
                cands = [name]
            for q in cands:
                if q not in ordered and not excluded(q):
                    ordered.append(q)
        return ordered
