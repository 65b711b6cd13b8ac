"""resque_starter's Ruby config file (``resque.conf.rb``), read as a literal subset.

Each line is a setting with a literal value, as in resque_starter's example::

    concurrency 2
    queues ['high', 'low']
    dequeue_interval 0.1
    pid_file ::File.expand_path('../../tmp/pids/resque_starter.pid', __FILE__)
    status_file File.join(Dir.pwd, 'tmp/pids/resque_starter.stat')
    logger ::Logger.new('log/resque_starter.log', 3, 1048576)
    logger.level = ::Logger::INFO

Values: strings (no ``#{}``), numbers, true/false/nil, symbols, arrays,
``%w()``, ``__FILE__``, ``__dir__``, ``Dir.pwd``, ``File.expand_path``,
``File.join``, ``File.dirname``, ``ENV['X']``, ``ENV.fetch('X', default)``,
``.to_i``/``.to_f``/``.to_s`` and ``a || b``.  ``before_fork``/``after_fork``
blocks, ``require`` lines and ``logger.formatter =`` are Ruby code with no
meaning for Python workers: each is skipped with a warning (write Python hooks
in a ``.py`` config instead).  Any other line is an error naming it.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

from resqued.config import compat, values
from resqued.config.model import Config
from resqued.errors import ConfigError

log = logging.getLogger("resqued")

SETTING = re.compile(r"([a-z_]+)(?:\((.*)\)|\s+(.*))")
HOOK = re.compile(r"(before_fork|after_fork)\b")
ONE_LINE_BLOCK = re.compile(r"(before_fork|after_fork)\b.*(\{.*\}|\bdo\b.*\bend)")
BLOCK_START = re.compile(r"(before_fork|after_fork)\b.*(\bdo\b(\s*\|[^|]*\|)?|\{[^}]*)")
OPENERS = ("if", "unless", "while", "until", "case", "begin", "def", "class", "module", "for")
LEVELS = {"DEBUG": "debug", "INFO": "info", "WARN": "warn", "ERROR": "error", "FATAL": "fatal"}
TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    | (?P<words>%w[(\[{<].*?[)\]}>])
    | (?P<num>-?\d[\d_]*(?:\.\d+)?)
    | (?P<sym>:[A-Za-z_]\w*[?!]?)
    | (?P<name>(?:::)?[A-Z]\w*(?:::[A-Z]\w*)*|\$\w+|__FILE__|__dir__|[a-z_]\w*[?!]?)
    | (?P<op>\|\||[()\[\],.])
    )""",
    re.VERBOSE,
)


class _Expr:
    """One value expression, parsed from its tokens."""

    def __init__(self, text: str, path: str) -> None:
        self.path = path
        self.tokens: list[tuple[str, str]] = []
        pos, text = 0, text.strip()
        while pos < len(text):
            m = TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise ValueError(f"cannot read {text[pos:][:30]!r}")
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()
            while pos < len(text) and text[pos].isspace():
                pos += 1
        self.i = 0

    def value(self) -> Any:
        result = self.alternative()
        if self.i != len(self.tokens):
            raise ValueError(f"unexpected {self.tokens[self.i][1]!r}")
        return result

    def alternative(self) -> Any:
        left = self.postfix()
        while self.peek() == "||":
            self.i += 1
            right = self.postfix()
            left = left if left not in (None, False) else right
        return left

    def postfix(self) -> Any:
        val = self.atom()
        while self.peek() == "." and self.i + 1 < len(self.tokens):
            method = self.tokens[self.i + 1][1]
            if method not in ("to_i", "to_f", "to_s"):
                raise ValueError(f"unsupported method .{method}")
            self.i += 2
            val = _convert(val, method)
        return val

    def atom(self) -> Any:
        kind, text = self.next()
        if kind == "str":
            return _string(text)
        if kind == "words":
            return text[3:-1].split()
        if kind == "num":
            clean = text.replace("_", "")
            return float(clean) if "." in clean else int(clean)
        if kind == "sym":
            return text[1:]
        if text == "(":
            inner = self.alternative()
            self.expect(")")
            return inner
        if text == "[":
            items = []
            while self.peek() != "]":
                items.append(self.alternative())
                if self.peek() == ",":
                    self.i += 1
            self.i += 1
            return items
        return self.named(text.removeprefix("::"))

    def named(self, name: str) -> Any:
        simple = {"true": True, "false": False, "nil": None}
        if name in simple:
            return simple[name]
        if name in ("STDOUT", "STDERR", "$stdout", "$stderr"):
            return name.strip("$").upper()
        if name == "__FILE__":
            return self.path
        if name == "__dir__":
            return os.path.dirname(os.path.abspath(self.path))
        if name.startswith("Logger::") and name[8:] in LEVELS:
            return LEVELS[name[8:]]
        if name == "ENV" and self.peek() == "[":
            self.i += 1
            key = self.alternative()
            self.expect("]")
            return os.environ.get(str(key))
        if name in ("Dir", "File", "ENV", "Logger", "ResqueStarter::Logger"):
            self.expect(".")
            method = self.next()[1]
            return self.call(f"{name}.{method}", self.arguments())
        raise ValueError(f"unsupported name {name!r}")

    def arguments(self) -> list[Any]:
        if self.peek() != "(":
            return []
        self.i += 1
        args = []
        while self.peek() != ")":
            args.append(self.alternative())
            if self.peek() == ",":
                self.i += 1
        self.i += 1
        return args

    def call(self, name: str, args: list[Any]) -> Any:
        if name == "Dir.pwd":
            return os.getcwd()
        if name == "File.expand_path" and 1 <= len(args) <= 2:
            base = os.path.abspath(os.path.expanduser(str(args[1]))) if len(args) == 2 else ""
            return os.path.normpath(os.path.join(base or os.getcwd(), os.path.expanduser(args[0])))
        if name == "File.join" and args:
            parts = [str(a) for a in args]
            if len(parts) == 1:
                return parts[0]
            inner = [p.strip("/") for p in parts[1:-1]]
            return "/".join([parts[0].rstrip("/"), *inner, parts[-1].lstrip("/")])
        if name == "File.dirname" and len(args) == 1:
            return os.path.dirname(str(args[0])) or "."
        if name == "ENV.fetch" and 1 <= len(args) <= 2:
            if len(args) == 1 and args[0] not in os.environ:
                raise ValueError(f"ENV.fetch: {args[0]!r} is not set")
            return os.environ.get(str(args[0]), args[1] if len(args) == 2 else None)
        if name in ("Logger.new", "ResqueStarter::Logger.new") and 1 <= len(args) <= 3:
            return ("logger", *args)
        raise ValueError(f"unsupported call {name}")

    def peek(self) -> str | None:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else None

    def next(self) -> tuple[str, str]:
        if self.i >= len(self.tokens):
            raise ValueError("the value ends too early")
        self.i += 1
        return self.tokens[self.i - 1]

    def expect(self, text: str) -> None:
        if self.next()[1] != text:
            raise ValueError(f"expected {text!r}")


def _string(text: str) -> str:
    body = text[1:-1]
    if text[0] == '"' and "#{" in body:
        raise ValueError("string interpolation (#{...}) is Ruby code")
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


def _convert(val: Any, method: str) -> Any:
    if method == "to_s":
        return "" if val is None else str(val)
    text = str(val or 0).strip()
    number = re.match(r"-?\d+(\.\d+)?", text)
    if method == "to_i":
        return int(float(number.group())) if number else 0
    return float(number.group()) if number else 0.0


def evaluate(path: str, config: Config) -> None:
    """Apply the settings of resque_starter's ``path`` to ``config``; ConfigError (file:line)."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    number = 0
    while number < len(lines):
        line = _code(lines[number])
        number += 1
        if not line:
            continue
        where = f"{path}:{number}"
        if HOOK.match(line):
            if not ONE_LINE_BLOCK.fullmatch(line):
                if not BLOCK_START.fullmatch(line):
                    raise ConfigError(f"{where}: {line!r}: expected a do ... end block")
                number = _skip_block(lines, number, where, "do" not in line.split())
            hook = line.split()[0]
            log.warning("%s: the %s block is Ruby code: skipped (write it in Python)", where, hook)
            continue
        if re.match(r"(require|require_relative)\b", line) or line.startswith("logger.formatter"):
            log.warning("%s: %r is Ruby code: skipped", where, line)
            continue
        try:
            _setting(line, path, config)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc} in {line!r}") from None


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


def _setting(line: str, path: str, config: Config) -> None:
    if m := re.fullmatch(r"logger\.level\s*=\s*(.+)", line):
        config.compat.log_level = compat.log_level(_Expr(m.group(1), path).value())
        return
    m = SETTING.fullmatch(line)
    if not m:
        raise ConfigError(f"{line!r} is not a setting resque-starter reads")
    name, raw = m.group(1), m.group(2) if m.group(2) is not None else m.group(3)
    val = _Expr(raw, path).value()
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
        raise ConfigError(f"{name!r} is not a setting resque-starter reads")


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
