"""The Python configuration file, evaluated once into a Config.

worker_processes(32)
queue("critical")          # all workers
queue("high", 20)          # 20 workers
queue("low", "10%")        # 10% of the workers (3 of 32)
queue("*")
worker("mail", "default", interval=1)   # one more worker, on exactly these queues

@after_fork
def reconnect(worker):
    db.reconnect()
"""

from __future__ import annotations

import inspect
import sys
import traceback
from collections.abc import Callable
from typing import Any

from resqued.config import values
from resqued.config.model import HOOKS, Config, WorkerSlot
from resqued.errors import ConfigError, ResquedError
from resqued.resque.connection import validate as validate_url


class _Builder:
    def __init__(self, config: Config) -> None:
        self.c = config

    def names(self) -> dict[str, Any]:
        c = self.c
        ns: dict[str, Any] = {
            "worker_processes": self.worker_processes,
            "concurrency": self.worker_processes,  # resque_starter
            "queue": self.queue,
            "queues": self.queues,
            "worker": self.worker,
            "workload": self.workload,
            "preload_app": lambda on=True: setattr(
                c, "preload_app", values.switch(on, True, "preload_app")
            ),
            "require": lambda *mods: c.requires.extend(str(m) for m in mods),
            "redis": lambda url: setattr(c, "redis_url", validate_url(str(url))),
            "namespace": lambda ns: setattr(c, "namespace", str(ns)),
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
        }
        for hook in HOOKS:
            ns[hook] = self._hook(hook)
        return ns

    def worker_processes(self, n: object) -> None:
        self.c.worker_processes = values.count(n, "worker_processes")

    def queue(self, name: str, amount: object = None) -> None:
        self.c.queue_rules.append(values.queue_rule(name, amount))

    def queues(self, *names: str) -> None:
        for name in names:
            self.queue(name)

    def worker(self, *queues: str, interval: object = None) -> None:
        names = tuple(q.strip() for spec in queues for q in str(spec).split(",") if q.strip())
        ival = None if interval is None else values.seconds(interval, "interval")
        self.c.workers.append(WorkerSlot(names or ("*",), ival))

    def workload(self, lists: list[str]) -> None:
        """Resque::Forker style: ``workload(["import", "import,export"] * 2)``."""
        for spec in lists:
            self.worker(spec)

    def interval(self, s: object) -> None:
        self.c.interval = values.seconds(s, "interval")

    def user(self, name: str, group: str | None = None) -> None:
        self.c.user, self.c.group = str(name), (str(group) if group else None)

    def worker_factory(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        self.c.worker_factory = fn
        return fn

    def config_loader(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        self.c.config_loader = fn
        return fn

    def _hook(self, name: str) -> Callable[..., Any]:
        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            if not callable(fn):
                raise ConfigError(f"{name} needs a function, not {fn!r}")
            hook = fn
            if name == "after_exit" and _positional_params(fn) == 2:
                hook = _pid_and_status(fn)  # the older after_exit(pid, status) form
            self.c.hooks[name].append(hook)
            return fn

        return register


def _positional_params(fn: Callable[..., Any]) -> int | None:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(p.kind in kinds for p in params)


def _pid_and_status(fn: Callable[..., Any]) -> Callable[[Any], Any]:
    def call(summary: Any) -> Any:
        return fn(summary.pid, summary.status)

    call.__qualname__ = getattr(fn, "__qualname__", "after_exit")
    return call


def _where(path: str, exc: BaseException) -> str:
    """``file:line`` of the innermost frame inside the config file."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == path:
            line = frame.lineno
    return f"{path}:{line}" if line else path


def evaluate(path: str, config: Config) -> None:
    """Run the file's code against the DSL; any error becomes a one-line ConfigError."""
    try:
        with open(path, encoding="utf-8") as f:
            source = f.read()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        code = compile(source, path, "exec")
    except SyntaxError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None
    namespace = {"__file__": path, "__name__": "__resqued_config__", **_Builder(config).names()}
    try:
        exec(code, namespace)  # noqa: S102  (the operator's own config file)
    except ResquedError as exc:  # ConfigError, or an invalid Redis URL (already redacted)
        raise ConfigError(f"{_where(path, exc)}: {exc}") from None
    except Exception as exc:  # noqa: BLE001
        raise ConfigError(f"{_where(path, exc)}: {type(exc).__name__}: {exc}") from None
    except SystemExit:
        raise ConfigError(f"{path}: config file called exit()") from None
    sys.modules.pop("__resqued_config__", None)
