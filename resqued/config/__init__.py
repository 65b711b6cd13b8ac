"""Configuration: the Python DSL, resque-pool YAML, command-line overrides, allocation."""

from resqued.config.loader import load
from resqued.config.model import Config, QueueRule, WorkerRow

__all__ = ["Config", "QueueRule", "WorkerRow", "load"]
