"""What every command shares: the parser class, Redis and logging flags, one-line errors."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TextIO

import redis

from resqued.errors import ResquedError
from resqued.process import logs
from resqued.process.redact import redact
from resqued.resque import host
from resqued.resque.store import Store


class Parser(argparse.ArgumentParser):
    """An argument parser without prefix matching whose errors are one line, exit status 2."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_abbrev=False, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {redact(message)} (see --help)\n")


def parser(command: str, description: str) -> Parser:
    """The parser of ``resqued <command>``."""
    return Parser(prog=f"resqued {command}", description=description)


def add_redis_args(p: argparse.ArgumentParser) -> None:
    """``--redis URL`` or ``--redis-url-file FILE``, and ``--namespace NS``, for every command."""
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--redis",
        metavar="URL",
        help="Redis URL (default: $REDIS_URL or localhost); a password here shows in ps "
        "until the process starts: prefer $REDIS_URL or --redis-url-file",
    )
    where.add_argument(
        "--redis-url-file",
        metavar="FILE",
        help="read the Redis URL from the first line of FILE (keeps a password off "
        "the command line)",
    )
    p.add_argument(
        "--namespace",
        metavar="NS",
        type=_namespace,
        default=os.environ.get("RESQUE_NAMESPACE") or None,  # set but empty: unset
        help="Redis key namespace (default: $RESQUE_NAMESPACE or resque)",
    )


def _namespace(value: str) -> str:
    if not value.strip():  # no prefix at all, or keys under ' :': never what was meant
        raise argparse.ArgumentTypeError("must not be empty (the default is resque)")
    return value


def add_hostname_arg(p: argparse.ArgumentParser) -> None:
    """``--hostname NAME``: this host's name in worker and master ids (``$RESQUED_HOSTNAME``)."""
    p.add_argument(
        "--hostname",
        metavar="NAME",
        help="this host's name in worker and master ids, status and pruning (default: "
        "$RESQUED_HOSTNAME or the system's host name; for containers and simulated hosts)",
    )


def apply_hostname(args: argparse.Namespace) -> None:
    """Use ``--hostname`` here and in every process started from here; check the variable."""
    host.override(args.hostname)
    host.hostname()  # a bad $RESQUED_HOSTNAME is one line now, not an error in a worker


def redis_url(args: argparse.Namespace) -> str | None:
    """The URL from ``--redis`` or ``--redis-url-file``; None means $REDIS_URL or localhost."""
    if args.redis_url_file:
        try:
            with open(args.redis_url_file) as f:
                url = f.readline().strip()
        except OSError as exc:
            raise ResquedError(
                f"cannot read Redis URL file {args.redis_url_file}: {exc.strerror}"
            ) from None
        if not url:
            raise ResquedError(f"Redis URL file {args.redis_url_file} is empty")
        return url
    given: str | None = args.redis
    return given


def store(args: argparse.Namespace, probe: bool = True) -> Store:
    """The Redis store the flags name; with ``probe``, fail now (one line) if Redis says no."""
    st = Store.connect(redis_url(args), args.namespace or "resque")
    if probe:
        st.probe()
    return st


def add_log_args(p: argparse.ArgumentParser, short_quiet: bool = True) -> None:
    """``-v``/``--verbose``, ``-q``/``--quiet`` (long form only where -q is taken), --log-format."""
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    quiet = ("-q", "--quiet") if short_quiet else ("--quiet",)
    p.add_argument(*quiet, dest="quiet", action="store_true", help="errors only")
    p.add_argument(
        "--log-format",
        choices=logs.FORMATS,
        default=None,
        help="text (default, or $RESQUED_LOG_FORMAT) or json: one JSON object per line "
        "with time, level, process, pid and message",
    )


def setup_logging(args: argparse.Namespace) -> int:
    """Configure this process's logging from the flags; children inherit the format."""
    fmt = args.log_format or os.environ.get(logs.FORMAT_ENV) or "text"
    if fmt not in logs.FORMATS:
        raise ResquedError(f"${logs.FORMAT_ENV} must be text or json, not {fmt!r}")
    os.environ[logs.FORMAT_ENV] = fmt  # listeners and workers log the same way
    level = logging.DEBUG if args.verbose else logging.ERROR if args.quiet else logging.INFO
    logs.setup(level, fmt)
    return level


def guarded(command: Callable[[list[str]], int], argv: list[str]) -> int:
    """Run a command; errors the user can act on become one line on stderr, secrets redacted."""
    try:
        return command(argv)
    except ResquedError as exc:
        print(f"resqued: {redact(str(exc))}", file=sys.stderr)
        return 1
    except redis.RedisError as exc:
        print(f"resqued: redis: {redact(' '.join(str(exc).split()))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `resqued status | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def confirm(
    action: str, yes: bool, stdin: TextIO | None = None, stderr: TextIO | None = None
) -> None:
    """Return once the operator agreed to ``action`` (``--yes``, or ``y`` typed on the
    terminal); raise ResquedError, nothing changed, otherwise.

    ``action`` reads as a question: ``retry 12 failed jobs (queue=mail)``.
    """
    if yes:
        return
    stdin = stdin if stdin is not None else sys.stdin
    stderr = stderr if stderr is not None else sys.stderr
    if stdin is None or stdin.closed or not stdin.isatty():
        raise ResquedError(f"refusing to {action} without --yes (stdin is not a terminal to ask)")
    stderr.write(f"{action[:1].upper()}{action[1:]}? [y/N] ")
    stderr.flush()
    answer = stdin.readline()
    if answer.strip().lower() not in ("y", "yes"):
        raise ResquedError("not confirmed: nothing changed")
