"""Resque::Forker's ``forker`` object, as ``setup`` and ``teardown`` hooks receive it.

``@setup`` hooks run when the config file has been evaluated (in the start-up
check process and in each listener, where the config is evaluated), with a
``Forker`` whose settings write the config::

    @setup
    def load(forker):
        import myapp.environment
        forker.workload = ["import", "import,export"] * 2
        forker.user("www-data", "www-data")
        forker.interval = 1
        forker.logger = logging.getLogger("myapp")   # or: forker.verbose = True

``@teardown`` hooks get the same object (in the listener, once its workers have
exited; see docs/migrating/resque-forker.md).
"""

from __future__ import annotations

import logging
from typing import Any

from resqued.config import values
from resqued.config.model import Config, WorkerRow
from resqued.errors import ConfigError


class Forker:
    def __init__(self, config: Config) -> None:
        self._config = config

    @property
    def options(self) -> Forker:
        """Resque::Forker 1.x's ``forker.options.interval = 1``: the same settings."""
        return self

    @property
    def workload(self) -> list[str]:
        """One queue list per worker, as ``"import,export"`` strings."""
        return [slot.queue_list for slot in self._config.workers]

    @workload.setter
    def workload(self, lists: list[str]) -> None:
        if isinstance(lists, str) or not isinstance(lists, list | tuple):
            raise ConfigError(f"forker.workload must be a list of queue lists, not {lists!r}")
        rows = []
        for spec in lists:
            names = tuple(q.strip() for q in str(spec).split(",") if q.strip())
            for name in names:
                values.queue_rule(name)  # checks the name
            rows.append(WorkerRow(names or ("*",)))
        self._config.workers = rows

    @property
    def logger(self) -> logging.Logger:
        configured: logging.Logger | None = self._config.compat.logger
        return configured or logging.getLogger("resqued")

    @logger.setter
    def logger(self, logger: Any) -> None:
        self._config.compat.logger = checked_logger(logger)

    @property
    def verbose(self) -> bool:
        return self._config.compat.verbose

    @verbose.setter
    def verbose(self, flag: object) -> None:
        self._config.compat.verbose = bool(flag)

    very_verbose = verbose  # Resque's very_verbose: the same debug level here

    @property
    def interval(self) -> float:
        return self._config.interval

    @interval.setter
    def interval(self, seconds: object) -> None:
        self._config.interval = values.seconds(seconds, "forker.interval")

    @property
    def terminate(self) -> float:
        return self._config.compat.terminate

    @terminate.setter
    def terminate(self, seconds: object) -> None:
        self._config.compat.terminate = values.seconds(seconds, "forker.terminate", minimum=0.1)

    def user(self, user: str, group: str | None = None) -> None:
        """Run the listener and the workers as ``user`` (and ``group``)."""
        self._config.user, self._config.group = str(user), (str(group) if group else None)


def checked_logger(logger: Any) -> logging.Logger | None:
    """A logging.Logger (or None for resqued's own); anything else is a ConfigError."""
    if logger is None or isinstance(logger, logging.Logger):
        return logger
    raise ConfigError(f"logger must be a logging.Logger, not {logger!r}")
