"""Ruby value expressions of the literal kind, as resque_starter's config files write them.

``Expr(text, path).value()`` evaluates one expression: strings (no ``#{}``),
numbers, true/false/nil, symbols, arrays, ``%w()``, ``(...)``, ``__FILE__``,
``__dir__``, ``Dir.pwd``, ``File.expand_path``, ``File.join``, ``File.dirname``,
``ENV['X']``, ``ENV.fetch('X', default)``, ``STDOUT``/``STDERR``, Logger level
constants, ``Logger.new(...)`` (as a tuple), ``.to_i``/``.to_f``/``.to_s`` and
``a || b``.  Anything else raises ValueError saying what it met.

``Expr(text, path).call_arguments()`` reads a method's argument list instead, as
Ruby resqued's DSL writes one: ``'a', 'b', interval: 1`` (also
``:interval => 1`` and a trailing ``{...}`` hash) gives
``(["a", "b"], {"interval": 1})``.
"""

from __future__ import annotations

import os
import re
from typing import Any

LEVELS = {"DEBUG": "debug", "INFO": "info", "WARN": "warn", "ERROR": "error", "FATAL": "fatal"}
TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    | (?P<words>%w[(\[{<].*?[)\]}>])
    | (?P<num>-?\d[\d_]*(?:\.\d+)?)
    | (?P<key>[a-z_]\w*:(?!:))
    | (?P<sym>:[A-Za-z_]\w*[?!]?)
    | (?P<name>(?:::)?[A-Z]\w*(?:::[A-Z]\w*)*|\$\w+|__FILE__|__dir__|[a-z_]\w*[?!]?)
    | (?P<op>\|\||=>|[()\[\],.{}])
    )""",
    re.VERBOSE,
)


class Expr:
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

    def call_arguments(self) -> tuple[list[Any], dict[str, Any]]:
        """A method's arguments: values, then options (``key: v``, ``:key => v``, ``{...}``)."""
        args: list[Any] = []
        options: dict[str, Any] = {}
        while self.peek() is not None:
            if self.peek() == "{" and not options:
                self.i += 1
                self._options(options, "}")
                self.expect("}")
            elif self._option_ahead():
                self._options(options, None)
            else:
                args.append(self.alternative())
            if self.peek() is not None:
                self.expect(",")
        return args, options

    def _option_ahead(self) -> bool:
        kind = self.tokens[self.i][0]
        after = self.tokens[self.i + 1][1] if self.i + 1 < len(self.tokens) else None
        return kind == "key" or (kind == "sym" and after == "=>")

    def _options(self, options: dict[str, Any], closer: str | None) -> None:
        """``key: v, :key => v, ...`` up to ``closer`` (or the end) into ``options``."""
        while self.peek() not in (None, closer):
            kind, text = self.next()
            if kind == "key":
                name = text[:-1]
            elif kind == "sym" and self.peek() == "=>":
                name = text[1:]
                self.i += 1
            else:
                raise ValueError(f"expected an option (name: value), not {text!r}")
            options[name] = self.alternative()
            if self.peek() == ",":
                self.i += 1

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
