"""What crosses a USR2 re-exec: ``MasterState``, the master's listeners, counts and view as data.

The old image writes it (``Master.saved``) as versioned JSON into an anonymous
memory file (``master/upgrade.py``); the new image reads it back
(``MasterState.from_json``) and adopts it (``Master.adopt``).  The JSON form is
``STATE_VERSION`` 1, the form releases before this module wrote: a master
started from an older release can be upgraded in place, and back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from resqued.config.view import MasterView
from resqued.master.job_stats import Row
from resqued.scheduler.spec import SchedulerSpec

STATE_VERSION = 1


@dataclass(frozen=True)
class ListenerRecord:
    """One running listener as the new image adopts it: its socket's fd, its workers."""

    number: int
    fd: int  # our end of its socketpair, inherited through the exec
    pid: int
    ready: bool
    total: int
    view: MasterView | None = None  # the config it reported in its RUNNING
    stats: dict[str, Any] = field(default_factory=dict)  # its latest STATS report
    workers: dict[int, str] = field(default_factory=dict)  # pid -> queues
    held: int = 0  # its slots that will get a worker (HELD); an older image's: none
    held_told: int = 0  # the older listeners' slots we last told it (HELD)
    rolls: bool = False  # it understands RETIRE (an older image's: no)

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "fd": self.fd,
            "pid": self.pid,
            "ready": self.ready,
            "total": self.total,
            "summary": self.view.to_dict() if self.view else {},  # the name older images read
            "stats": self.stats,
            "workers": {str(pid): queues for pid, queues in self.workers.items()},
            **({"held": self.held} if self.held else {}),  # absent when 0, as older images
            **({"held_told": self.held_told} if self.held_told else {}),  # wrote the document
            **({"rolls": True} if self.rolls else {}),
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> ListenerRecord:
        summary = doc.get("summary")
        return cls(
            number=int(doc["number"]),
            fd=int(doc["fd"]),
            pid=int(doc["pid"]),
            ready=bool(doc["ready"]),
            total=int(doc["total"]),
            view=MasterView.from_dict(summary) if summary else None,
            stats=dict(doc.get("stats") or {}),
            workers=_pids(doc["workers"]),
            held=int(doc.get("held") or 0),
            held_told=int(doc.get("held_told") or 0),
            rolls=bool(doc.get("rolls")),
        )


@dataclass(frozen=True)
class SchedulerRecord:
    """The running mover as the new image adopts it (it stays the master's child)."""

    pid: int
    spec: SchedulerSpec

    def to_dict(self) -> dict[str, Any]:
        return {"pid": self.pid, "spec": self.spec.to_dict()}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> SchedulerRecord:
        return cls(pid=int(doc["pid"]), spec=SchedulerSpec.from_dict(doc["spec"]))


@dataclass
class MasterState:
    view: MasterView  # the running config
    generation: int = 0  # listeners started so far
    current: int | None = None  # the current listener's pid
    listeners: list[ListenerRecord] = field(default_factory=list)  # every one still running
    orphans: dict[int, str] = field(default_factory=dict)  # workers of listeners that are gone
    pool_delta: int = 0  # TTIN / TTOU
    workers_stopped: bool = False  # WINCH
    replacements: dict[str, int] = field(default_factory=dict)  # why workers went
    reloads: dict[str, int] = field(default_factory=dict)  # by outcome
    jobs_retired: list[Row] = field(default_factory=list)  # job stats of listeners gone
    scheduler: SchedulerRecord | None = None  # the mover, if one runs

    def to_json(self) -> str:
        doc = {
            "version": STATE_VERSION,
            "generation": self.generation,
            "current": self.current,
            "listeners": [li.to_dict() for li in self.listeners],
            "orphans": {str(pid): queues for pid, queues in self.orphans.items()},
            "pool_delta": self.pool_delta,
            "workers_stopped": self.workers_stopped,
            "view": self.view.to_dict(),
            "replacements": self.replacements,
            "reloads": self.reloads,
            "jobs_retired": self.jobs_retired,
        }
        if self.scheduler:  # written only when a mover runs: the previous release's form else
            doc["scheduler"] = self.scheduler.to_dict()
        return json.dumps(doc)

    @classmethod
    def from_json(cls, text: str | bytes) -> MasterState:
        """The state a previous image wrote; ValueError if it is not a version 1 state."""
        try:
            doc = json.loads(text)
        except ValueError:
            raise ValueError("the master's state is not JSON") from None
        if not isinstance(doc, dict) or doc.get("version") != STATE_VERSION:
            found = doc.get("version") if isinstance(doc, dict) else None
            raise ValueError(f"re-exec state version {found} is not {STATE_VERSION}")
        try:
            return cls(
                view=MasterView.from_dict(doc.get("view") or {}),
                generation=int(doc["generation"]),
                current=None if doc.get("current") is None else int(doc["current"]),
                listeners=[ListenerRecord.from_dict(li) for li in doc["listeners"]],
                orphans=_pids(doc["orphans"]),
                pool_delta=int(doc["pool_delta"]),
                workers_stopped=bool(doc["workers_stopped"]),
                replacements=_counts(doc.get("replacements")),
                reloads=_counts(doc.get("reloads")),
                jobs_retired=list(doc.get("jobs_retired") or []),
                scheduler=_scheduler(doc.get("scheduler")),  # absent before the scheduler
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"the master's state is incomplete or malformed: {exc!r}") from None


def _scheduler(doc: dict[str, Any] | None) -> SchedulerRecord | None:
    return SchedulerRecord.from_dict(doc) if doc else None


def _pids(doc: dict[str, str]) -> dict[int, str]:
    return {int(pid): str(queues) for pid, queues in doc.items()}


def _counts(doc: dict[str, int] | None) -> dict[str, int]:
    return {str(k): int(v) for k, v in (doc or {}).items()}
