"""The Python configuration file, evaluated once into a Config.

worker_processes(32)
queue("critical")          # all workers
queue("high", 20)          # 20 workers (also queue("high", count=20))
queue("low", "10%")        # 10% of the workers (3 of 32; also queue("low", percent=10))
queue("*")
worker("mail", "default", interval=1)   # one more worker, on exactly these queues

@after_fork
def reconnect(worker):
    db.reconnect()

Ruby resqued's spellings work too (``worker_pool(5, "a", "b", interval=1)``,
several queues in one ``queue`` call); the names of resque-pool, resque_starter
and Resque::Forker are added by ``dsl_compat``.
"""

from __future__ import annotations

import random
import re
import sys
import traceback
from collections.abc import Callable
from typing import Any

from resqued import hooks
from resqued.config import dsl_compat, hook_forms, limits, values
from resqued.config.forker import Forker
from resqued.config.model import HOOKS, Config, WorkerRow
from resqued.config.source import read_text
from resqued.errors import ConfigError, ResquedError
from resqued.resque.connection import validate as validate_url
from resqued.scheduler.spec import scheduler_setting

# A trailing positional amount in queue("x", 20), queue("x", "10%"), queue("x", 0.1).
AMOUNT = re.compile(r"\s*(?:\d+(?:\.\d+)?%?|:?all)\s*")


class _Builder:
    def __init__(self, config: Config) -> None:
        self.c = config
        self.setups: list[Callable[..., Any]] = []  # Resque::Forker's setup hooks

    def names(self) -> dict[str, Any]:
        c = self.c
        ns: dict[str, Any] = {
            "worker_processes": self.worker_processes,
            "concurrency": self.worker_processes,  # resque_starter
            "worker_pool": self.worker_pool,  # Ruby resqued
            "queue": self.queue,
            "queues": self.queues,
            "worker": self.worker,
            "workload": self.workload,
            "preload_app": lambda on=True: setattr(
                c, "preload_app", values.switch(on, True, "preload_app")
            ),
            "require": lambda *mods: c.requires.extend(str(m) for m in mods),
            "redis": lambda url: setattr(c, "redis_url", validate_url(str(url))),
            "namespace": lambda ns: setattr(c, "namespace", values.namespace(ns, "namespace")),
            "pid_file": lambda path: setattr(c, "pidfile", str(path)),
            "pidfile": lambda path: setattr(c, "pidfile", str(path)),
            "stdout_path": lambda path: setattr(c, "stdout_path", str(path)),
            "stderr_path": lambda path: setattr(c, "stderr_path", str(path)),
            "interval": self.interval,
            "dequeue_interval": self.interval,  # resque_starter
            "fork_per_job": lambda on=True: setattr(
                c, "fork_per_job", values.switch(on, True, "fork_per_job")
            ),
            "jobs_per_fork": lambda n: setattr(
                c, "jobs_per_fork", values.count(n, "jobs_per_fork")
            ),
            "threads": lambda n: setattr(c, "threads", values.count(n, "threads", minimum=1)),
            "term_child": lambda on=True: setattr(
                c, "term_child", values.switch(on, True, "term_child")
            ),
            "term_timeout": lambda s: setattr(c, "term_timeout", values.seconds(s, "term_timeout")),
            "shutdown_timeout": lambda s: setattr(
                c, "shutdown_timeout", values.seconds(s, "shutdown_timeout")
            ),
            "boot_timeout": lambda s: setattr(
                c, "boot_timeout", values.seconds(s, "boot_timeout", minimum=1)
            ),
            "prune_interval": lambda s: setattr(
                c, "prune_interval", values.seconds(s, "prune_interval", minimum=1)
            ),
            "metrics": lambda bind: setattr(c, "metrics", str(bind)),
            "user": self.user,
            "worker_factory": self.worker_factory,
            "config_loader": self.config_loader,
            "scheduler": self.scheduler,
            **limits.dsl_names(c),  # job_timeout, memory_limit, max_age, ... (guard rails)
        }
        for hook in HOOKS:
            ns[hook] = self._hook(hook)
        ns.update(dsl_compat.names(c, self._hook, self.setups))
        return ns

    def worker_processes(self, n: object) -> None:
        self.c.worker_processes = values.count(n, "worker_processes")

    def worker_pool(self, n: object, *queues: object, interval: object = None) -> None:
        """Ruby resqued's ``worker_pool 5, 'a', 'b', interval: 1``: the pool and its queues."""
        self.worker_processes(n)
        self.c.queue_rules.clear()  # as in Ruby resqued, the pool's queues start afresh
        for name in _flat(queues):
            self.c.queue_rules.append(values.queue_rule(_name(name)))
        if interval is not None:
            self.c.compat.pool_interval = values.seconds(interval, "worker_pool interval")

    def queue(self, *names: object, percent: object = None, count: object = None) -> None:
        """``queue("x")``, ``queue("x", 20)``, ``queue("x", "10%")``, ``queue("a", "b")``,
        ``queue("x", percent=20)``, ``queue("x", count=2)`` (Ruby resqued's spellings)."""
        flat = _flat(names)
        amount: object = None
        if percent is not None and count is not None:
            raise ConfigError("queue: give percent= or count=, not both")
        if percent is not None:
            if isinstance(percent, bool) or not isinstance(percent, int | float):
                raise ConfigError(f"queue: percent must be a number, not {percent!r}")
            amount = f"{percent}%"
        elif count is not None:
            amount = values.count(count, "queue count")
        elif len(flat) >= 2 and _is_amount(flat[-1]):
            amount = flat.pop()  # queue("high", 20): the older positional form
        if not flat:
            raise ConfigError("queue needs at least one queue name")
        for name in flat:
            self.c.queue_rules.append(values.queue_rule(_name(name), amount))

    def queues(self, *names: object) -> None:
        """``queues("a", "b")`` or resque_starter's ``queues(["high", "low"])``."""
        for name in _flat(names):
            self.queue(name)

    def worker(
        self,
        *queues: object,
        interval: object = None,
        shuffle_queues: bool = False,
        **guard: object,
    ) -> None:
        names = [q.strip() for spec in _flat(queues) for q in _name(spec).split(",") if q.strip()]
        if shuffle_queues:  # Ruby resqued's option: the order is drawn once, here
            random.shuffle(names)
        ival = None if interval is None else values.seconds(interval, "interval")
        rails = limits.row_settings(guard, f"worker({','.join(names or ['*'])!r})")
        self.c.workers.append(WorkerRow(tuple(names) or ("*",), ival, **rails))

    def workload(self, lists: list[str], **guard: Any) -> None:
        """Resque::Forker style: ``workload(["import", "import,export"] * 2)``."""
        for spec in lists:
            self.worker(spec, **guard)

    def interval(self, s: object) -> None:
        self.c.interval = values.seconds(s, "interval")

    def user(self, name: str, group: str | None = None) -> None:
        self.c.user, self.c.group = str(name), (str(group) if group else None)

    def scheduler(self, enabled: bool = True, **settings: Any) -> None:
        """``scheduler(schedule="config/schedule.yml", interval=5, ...)``: run the mover."""
        self.c.scheduler = scheduler_setting(self.c.scheduler, enabled, settings)

    def worker_factory(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        self.c.worker_factory = fn
        return fn

    def config_loader(self, fn: Any) -> Any:
        """A callable ``fn(environment)``, or an object with ``call`` (and optionally ``reset``)."""
        self.c.config_loader = dsl_compat.loader(fn)
        return fn

    def _hook(self, name: str) -> Callable[..., Any]:
        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            self.c.hooks[name].append(hook_forms.adapt(name, fn))
            return fn

        return register


def ruby_resqued_names(config: Config) -> dict[str, Callable[..., None]]:
    """Ruby resqued's ``worker``, ``worker_pool`` and ``queue``, for its ``.rb`` files."""
    builder = _Builder(config)
    return {"worker": builder.worker, "worker_pool": builder.worker_pool, "queue": builder.queue}


def _flat(items: tuple[object, ...] | list[object]) -> list[object]:
    """Lists and tuples inside the arguments are spread (Ruby's flatten)."""
    out: list[object] = []
    for item in items:
        out.extend(_flat(list(item)) if isinstance(item, list | tuple) else [item])
    return out


def _name(value: object) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"a queue name must be a string, not {value!r}")
    return value


def _is_amount(value: object) -> bool:
    """A trailing positional amount: anything but a string, or a string shaped like one."""
    if not isinstance(value, str):
        return not isinstance(value, list | tuple)
    return AMOUNT.fullmatch(value) is not None or value.strip().endswith("%")


def _where(path: str, exc: BaseException) -> str:
    """``file:line`` of the innermost frame inside the config file."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == path:
            line = frame.lineno
    return f"{path}:{line}" if line else path


def evaluate(path: str, config: Config) -> None:
    """Run the file's code against the DSL; any error becomes a one-line ConfigError."""
    source = read_text(path)
    try:
        code = compile(source, path, "exec")
    except SyntaxError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None
    builder = _Builder(config)
    namespace = {"__file__": path, "__name__": "__resqued_config__", **builder.names()}
    try:
        exec(code, namespace)  # noqa: S102  (the operator's own config file)
        for setup in builder.setups:  # Resque::Forker's setup hooks, once the file is read
            hooks.call("config.setup", setup, Forker(config))
    except ResquedError as exc:  # ConfigError, or an invalid Redis URL (already redacted)
        raise ConfigError(f"{_where(path, exc)}: {exc}") from None
    except Exception as exc:  # noqa: BLE001
        raise ConfigError(f"{_where(path, exc)}: {type(exc).__name__}: {exc}") from None
    except SystemExit:
        raise ConfigError(f"{path}: config file called exit()") from None
    sys.modules.pop("__resqued_config__", None)
