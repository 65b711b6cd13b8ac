"""What the master keeps of a config: ``MasterView``, typed plain data built in one place.

The master never evaluates a config (it would run user code): the config
check process (``config/check.py``) sends it a view at start-up, and every
listener sends one in its ``RUNNING`` (``listener/loop.py``); both build it
with ``MasterView.of``, so a setting the master needs is added here once.
The view crosses the pipe and a USR2 re-exec as JSON (``to_dict``/``from_dict``).

The JSON form is the one releases before the typed view wrote (a plain
dict: ``pool`` for ``pool_size``; ``user`` and ``group`` inside ``compat``),
so a master can adopt a view an older or a newer image left it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from resqued.config.allocation import format_table, pool_size, worker_table
from resqued.config.compat import Compat
from resqued.config.model import Config
from resqued.scheduler.spec import SchedulerSpec

DEFAULT_SHUTDOWN_TIMEOUT = 30.0
DEFAULT_BOOT_TIMEOUT = 300.0
_COMPAT_FIELDS = {f.name for f in fields(Compat)} - {"logger"}


@dataclass(frozen=True)
class MasterView:
    pidfile: str | None = None
    stdout_path: str | None = None
    stderr_path: str | None = None
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT
    boot_timeout: float = DEFAULT_BOOT_TIMEOUT
    metrics: str | None = None  # ADDR:PORT of the Prometheus endpoint, or None
    pool_size: int = 0  # the pool workers (worker_processes), what TTIN/TTOU add to
    workers: int = 0  # every row of the worker table
    sources: tuple[str, ...] = ()  # the config files
    redis_url: str | None = None
    namespace: str = "resque"
    table: str = ""  # the numbered worker table --test prints
    user: str | None = None  # user(): the owner the log files are handed to
    group: str | None = None
    compat: Compat = field(default_factory=Compat)  # the settings of the tools we replace
    scheduler: SchedulerSpec | None = None  # the mover's settings; None: no mover

    @classmethod
    def of(cls, config: Config) -> MasterView:
        """The view of an evaluated config (no code in it: the logger is left behind)."""
        table = worker_table(config)
        return cls(
            pidfile=config.pidfile,
            stdout_path=config.stdout_path,
            stderr_path=config.stderr_path,
            shutdown_timeout=config.shutdown_timeout,
            boot_timeout=config.boot_timeout,
            metrics=config.metrics,
            pool_size=pool_size(config),
            workers=len(table),
            sources=tuple(config.sources),
            redis_url=config.redis_url,
            namespace=config.namespace,
            table=format_table(table),
            user=config.user,
            group=config.group,
            compat=Compat(**{name: getattr(config.compat, name) for name in _COMPAT_FIELDS}),
            scheduler=config.scheduler,
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (the same keys as the untyped view of earlier releases)."""
        compat = {k: v for k, v in asdict(self.compat).items() if k != "logger"}
        compat["user"], compat["group"] = self.user, self.group
        doc = {
            "pidfile": self.pidfile,
            "stdout_path": self.stdout_path,
            "stderr_path": self.stderr_path,
            "shutdown_timeout": self.shutdown_timeout,
            "boot_timeout": self.boot_timeout,
            "metrics": self.metrics,
            "pool": self.pool_size,
            "workers": self.workers,
            "sources": list(self.sources),
            "redis_url": self.redis_url,
            "namespace": self.namespace,
            "table": self.table,
            "compat": compat,
        }
        if self.scheduler:  # written only when set: a view without one reads as before
            doc["scheduler"] = self.scheduler.to_dict()
        return doc

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> MasterView:
        """A view from its JSON form; keys an older sender did not write keep their defaults.

        ValueError (or TypeError) when a value has the wrong type.
        """
        if not isinstance(doc, dict):
            raise ValueError(f"a master view is a JSON object, not {type(doc).__name__}")
        compat_doc = doc.get("compat") or {}
        if not isinstance(compat_doc, dict):
            raise ValueError("a master view's compat is a JSON object")
        compat = Compat(**{k: v for k, v in compat_doc.items() if k in _COMPAT_FIELDS})
        scheduler = doc.get("scheduler")  # absent from older senders: no mover
        sources = doc.get("sources") or ()
        if isinstance(sources, str) or not isinstance(sources, list | tuple):
            raise ValueError("a master view's sources is a list")
        return cls(
            pidfile=_text(doc.get("pidfile")),
            stdout_path=_text(doc.get("stdout_path")),
            stderr_path=_text(doc.get("stderr_path")),
            shutdown_timeout=float(doc.get("shutdown_timeout") or DEFAULT_SHUTDOWN_TIMEOUT),
            boot_timeout=float(doc.get("boot_timeout") or DEFAULT_BOOT_TIMEOUT),
            metrics=_text(doc.get("metrics")),
            pool_size=int(doc.get("pool") or 0),
            workers=int(doc.get("workers") or 0),
            sources=tuple(str(s) for s in sources),
            redis_url=_text(doc.get("redis_url")),
            namespace=str(doc.get("namespace") or "resque"),
            table=str(doc.get("table") or ""),
            user=_text(compat_doc.get("user")),
            group=_text(compat_doc.get("group")),
            compat=compat,
            scheduler=SchedulerSpec.from_dict(scheduler) if scheduler else None,
        )

    def reloaded(self, new: MasterView) -> MasterView:
        """After a reload: ``new``, but what the master fixed at its start stays.

        The pidfile it holds, its metrics endpoint and its Redis registration are
        set up once; a later config's values for them take effect on a restart.
        """
        return MasterView(
            **{
                **{f.name: getattr(new, f.name) for f in fields(MasterView)},
                "pidfile": self.pidfile,
                "metrics": self.metrics,
                "redis_url": self.redis_url,
                "namespace": self.namespace,
                "table": self.table,
            }
        )


def _text(value: object) -> str | None:
    return None if value is None else str(value)
