"""Load the configuration: files in order (DSL or YAML), then command-line overrides."""

from __future__ import annotations

import os
from dataclasses import replace

from resqued.config import compat, dsl, limits, starter_rb, values, yaml_pool
from resqued.config.allocation import worker_table
from resqued.config.model import Config, Overrides
from resqued.errors import ConfigError
from resqued.scheduler.spec import scheduler_setting

YAML_SUFFIXES = (".yml", ".yaml")
RUBY_SUFFIXES = (".rb",)  # resque_starter's config, read as a literal subset


def load(overrides: Overrides) -> Config:
    """One Config from the files and flags; ConfigError (one line) when anything is wrong."""
    config = Config(environment=overrides.environment)
    files = list(overrides.config_files)
    pool_file = (overrides.values.get("compat") or {}).get("pool_yaml")  # resque-pool's own
    if not files and not pool_file and (env_file := os.environ.get("RESQUE_POOL_CONFIG")):
        files = [env_file]
    for path in files:
        config.sources.append(path)
        if path.endswith(YAML_SUFFIXES):
            yaml_pool.evaluate(path, config, overrides.environment)
        elif path.endswith(RUBY_SUFFIXES):
            starter_rb.evaluate(path, config)
        else:
            dsl.evaluate(path, config)
    for key, value in overrides.values.items():
        if key in ("queue_rules", "workers", "requires"):
            getattr(config, key).extend(value)
        elif key == "compat":
            config.compat = compat.apply(config.compat, value)
        elif key == "scheduler":  # --scheduler, --schedule FILE
            config.scheduler = scheduler_setting(config.scheduler, True, value)
        else:
            setattr(config, key, value)
    yaml_pool.evaluate_pool_file(config, overrides.environment)  # resque-pool's, if any
    if config.scheduler and config.scheduler.env is None:  # rails_env entries are matched to it
        env = overrides.environment or os.environ.get("RAILS_ENV") or os.environ.get("RACK_ENV")
        config.scheduler = replace(config.scheduler, env=env or None)
    validate(config)
    return config


def validate(config: Config) -> None:
    """Whole-config checks, after every file and flag was applied."""
    if config.worker_processes is not None and config.worker_processes > 10_000:
        raise ConfigError(f"worker_processes {config.worker_processes} is not plausible")
    if config.metrics:
        values.parse_bind(config.metrics, "metrics address")
    if config.threads < 1:
        raise ConfigError(f"threads must be at least 1, not {config.threads}")
    limits.check(config)
    if not worker_table(config) and config.config_loader is None:
        raise ConfigError(
            "no workers configured: worker_processes is 0 and no worker(), workload(), "
            "YAML entry or config_loader adds any"
        )
    if config.user:
        import grp
        import pwd

        try:
            pwd.getpwnam(config.user)
        except KeyError:
            raise ConfigError(f"user({config.user!r}): no such user") from None
        if config.group:
            try:
                grp.getgrnam(config.group)
            except KeyError:
                raise ConfigError(f"user(..., {config.group!r}): no such group") from None
