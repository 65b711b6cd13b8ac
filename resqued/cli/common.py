"""What every command shares: the parser class, ``--redis``/``--namespace``, one-line errors."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

import redis

from resqued.errors import ResquedError
from resqued.resque.connection import redact
from resqued.resque.store import Store


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def parser(command: str, description: str) -> Parser:
    """The parser of ``resqued <command>``."""
    return Parser(prog=f"resqued {command}", description=description)


def add_redis_args(p: argparse.ArgumentParser) -> None:
    """``--redis URL`` and ``--namespace NS``, the same for every command."""
    p.add_argument("--redis", metavar="URL", help="Redis URL (default: $REDIS_URL or localhost)")
    p.add_argument(
        "--namespace",
        metavar="NS",
        default=os.environ.get("RESQUE_NAMESPACE"),
        help="Redis key namespace (default: $RESQUE_NAMESPACE or resque)",
    )


def store(args: argparse.Namespace) -> Store:
    """The Redis store named by ``--redis`` and ``--namespace``."""
    return Store.connect(args.redis, args.namespace or "resque")


def guarded(command: Callable[[list[str]], int], argv: list[str]) -> int:
    """Run a command; errors the user can act on become one line on stderr."""
    try:
        return command(argv)
    except ResquedError as exc:
        print(f"resqued: {exc}", file=sys.stderr)
        return 1
    except redis.RedisError as exc:
        print(f"resqued: redis: {redact(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `resqued status | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
