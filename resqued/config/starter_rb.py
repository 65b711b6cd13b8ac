"""Ruby config files (``.rb``): resque_starter's and Ruby resqued's, read as a literal subset.

Each line is a setting with literal values.  resque_starter's example::

    concurrency 2
    queues ['high', 'low']
    dequeue_interval 0.1
    pid_file ::File.expand_path('../../tmp/pids/resque_starter.pid', __FILE__)
    status_file File.join(Dir.pwd, 'tmp/pids/resque_starter.stat')
    logger ::Logger.new('log/resque_starter.log', 3, 1048576)
    logger.level = ::Logger::INFO

and Ruby resqued's ``config/resqued.rb``, through the Python DSL's own methods::

    worker 'high', interval: 1
    worker_pool 5, 'a', 'b', :interval => 1
    queue 'low', percent: 20
    2.times { worker 'mail' }

Values: strings (no ``#{}``), numbers, true/false/nil, symbols, arrays,
``%w()``, ``__FILE__``, ``__dir__``, ``Dir.pwd``, ``File.expand_path``,
``File.join``, ``File.dirname``, ``ENV['X']``, ``ENV.fetch('X', default)``,
``.to_i``/``.to_f``/``.to_s`` and ``a || b``.  ``before_fork``, ``after_fork``
and ``after_exit`` blocks, ``require`` lines and ``logger.formatter =`` are Ruby
code with no meaning for Python workers: each is skipped with a warning (write
Python hooks in a ``.py`` config instead; ``-r`` names the application).  Any
other line is an error naming it and the way out: a Python config file.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from resqued.config import compat, dsl, values
from resqued.config.model import Config
from resqued.config.ruby_literals import Expr
from resqued.config.source import read_text
from resqued.errors import ConfigError

log = logging.getLogger("resqued")

SETTING = re.compile(r"([a-z_]+)(?:\((.*)\)|\s+(.*))?")
HOOK = re.compile(r"(before_fork|after_fork|after_exit)\b")
ONE_LINE_BLOCK = re.compile(r"(before_fork|after_fork|after_exit)\b.*(\{.*\}|\bdo\b.*\bend)")
BLOCK_START = re.compile(r"(before_fork|after_fork|after_exit)\b.*(\bdo\b(\s*\|[^|]*\|)?|\{[^}]*)")
TIMES = re.compile(r"(\d+)\.times\s*(\{|do\b)\s*(?:\|\w*\|)?\s*(.*)")  # 2.times { worker 'x' }
OPENERS = ("if", "unless", "while", "until", "case", "begin", "def", "class", "module", "for")
RESQUED_NAMES = ("worker", "worker_pool", "queue")  # Ruby resqued's DSL, with options
FIX = "write this config in Python (docs/migrating/ruby-resqued.md, resque_starter.md)"


def evaluate(path: str, config: Config) -> None:
    """Apply the settings of the Ruby file ``path`` to ``config``; ConfigError (file:line)."""
    lines = read_text(path).splitlines()
    resqued_dsl = dsl.ruby_resqued_names(config)
    number = 0
    while number < len(lines):
        line = _code(lines[number])
        number += 1
        if not line:
            continue
        where = f"{path}:{number}"
        if re.match(r"worker_factory\b", line):
            raise ConfigError(f"{where}: worker_factory is Ruby code: {FIX}")
        if HOOK.match(line):
            if not ONE_LINE_BLOCK.fullmatch(line):
                if not BLOCK_START.fullmatch(line):
                    raise ConfigError(f"{where}: {line!r}: expected a do ... end block")
                number = _skip_block(lines, number, where, "do" not in line.split())
            hook = line.split()[0]
            how = "-r names the application" if hook == "before_fork" else "write it in Python"
            log.warning("%s: the %s block is Ruby code: skipped (%s)", where, hook, how)
            continue
        body = [(where, line)]
        times = 1
        if m := TIMES.fullmatch(line):
            times = int(m.group(1))
            body, number = _loop_body(lines, number, where, m.group(2), m.group(3))
        for _ in range(times):
            for at, statement in body:
                _statement(statement, at, path, config, resqued_dsl)


def _statement(line: str, where: str, path: str, config: Config, resqued_dsl: Any) -> None:
    """One line of settings; a ``require`` or ``logger.formatter =`` is skipped (warned)."""
    if re.match(r"(require|require_relative)\b", line) or line.startswith("logger.formatter"):
        log.warning("%s: %r is Ruby code: skipped", where, line)
        return
    try:
        _setting(line, path, config, resqued_dsl)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc} in {line!r}") from None


def _loop_body(
    lines: list[str], number: int, where: str, opener: str, rest: str
) -> tuple[list[tuple[str, str]], int]:
    """The statements of ``N.times { ... }`` / ``do ... end`` (one line or several)."""
    closer = "}" if opener == "{" else "end"
    if rest.endswith(closer) and (opener == "{" or re.search(r"\bend$", rest)):
        return [(where, rest[: -len(closer)].strip())], number
    if rest:
        raise ConfigError(f"{where}: {rest!r}: expected the loop's body on lines of its own")
    end = _skip_block(lines, number, where, opener == "{")
    body = [(f"{where.rsplit(':', 1)[0]}:{n + 1}", _code(lines[n])) for n in range(number, end - 1)]
    return [(at, text) for at, text in body if text], end


def _code(line: str) -> str:
    """The line without its comment (a ``#`` outside quotes) and surrounding spaces."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            quote = "" if ch == quote and line[i - 1] != "\\" else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#":
            return line[:i].strip()
    return line.strip()


def _skip_block(lines: list[str], number: int, where: str, braces: bool) -> int:
    """The line after the ``end`` (or ``}``) that closes the block opened above ``number``."""
    depth = 1
    while number < len(lines):
        line = _code(lines[number])
        number += 1
        if braces:
            depth += line.count("{") - line.count("}")
        else:
            words = line.split()
            if words and (words[0] in OPENERS or re.search(r"\bdo\b(\s*\|[^|]*\|)?$", line)):
                depth += 1
            if words and words[0] == "end":
                depth -= 1
        if depth <= 0:
            return number
    raise ConfigError(f"{where}: the block has no end")


def _setting(line: str, path: str, config: Config, resqued_dsl: Any) -> None:
    if m := re.fullmatch(r"logger\.level\s*=\s*(.+)", line):
        config.compat.log_level = compat.log_level(Expr(m.group(1), path).value())
        return
    m = SETTING.fullmatch(line)
    if not m:
        raise ConfigError(f"{line!r} is not a setting resqued reads from a Ruby file: {FIX}")
    name, raw = m.group(1), m.group(2) or m.group(3) or ""
    if name in RESQUED_NAMES:
        args, options = Expr(raw, path).call_arguments()
        try:
            resqued_dsl[name](*args, **options)
        except TypeError:
            raise ConfigError(f"{name}: unknown option in {raw.strip()!r}") from None
        return
    val = Expr(raw, path).value()
    if name == "concurrency":
        config.worker_processes = values.count(val, "concurrency")
    elif name == "queues":
        for queue in val if isinstance(val, list) else [val]:
            for name in str(queue).split(","):
                config.queue_rules.append(values.queue_rule(name))
    elif name == "dequeue_interval":
        config.interval = values.seconds(val, "dequeue_interval")
    elif name == "preload_app":
        config.preload_app = bool(val)
    elif name == "pid_file":
        config.pidfile = str(val)
    elif name in ("status_file", "log_level", "log_shift_age", "log_shift_size"):
        _compat(config, name, val)
    elif name in ("log_file", "logger"):
        _log_file(config, val)
    else:
        raise ConfigError(f"{name!r} is not a setting resqued reads from a Ruby file: {FIX}")


def _compat(config: Config, name: str, val: Any) -> None:
    if name == "status_file":
        config.compat.status_file = str(val)
    elif name == "log_level":
        config.compat.log_level = compat.log_level(val)
    elif name == "log_shift_age":
        config.compat.log_shift_age = compat.shift_age(val)
    else:
        config.compat.log_shift_size = values.count(val, "log_shift_size", minimum=1)


def _log_file(config: Config, val: Any) -> None:
    """``log_file 'path'`` or ``logger Logger.new(path, shift_age, shift_size)``."""
    args = list(val[1:]) if isinstance(val, tuple) else [val]
    target = str(args[0])
    config.stderr_path = None if target in ("STDOUT", "STDERR") else target
    if len(args) > 1:
        config.compat.log_shift_age = compat.shift_age(args[1])
    if len(args) > 2:
        config.compat.log_shift_size = values.count(args[2], "log_shift_size", minimum=1)
