"""Parsing one configuration value (a queue amount, a count, an address); errors say why."""

from __future__ import annotations

from resqued.config.model import QueueRule
from resqued.errors import ConfigError, ResquedError


def queue_rule(name: str, amount: object = None) -> QueueRule:
    """``high``, ``high`` 20, ``low`` 0.10, ``low`` "10%" -> a QueueRule."""
    name = str(name).strip()
    if not name or "," in name or ":" in name:
        raise ConfigError(f"invalid queue name {name!r}")
    if amount is None or amount == ":all" or amount == "all":
        return QueueRule(name)
    if isinstance(amount, bool):
        raise ConfigError(f"queue {name!r}: amount must be a count or a share, not {amount!r}")
    if isinstance(amount, str):
        text = amount.strip()
        if text.endswith("%"):
            try:
                pct = float(text[:-1])
            except ValueError:
                raise ConfigError(f"queue {name!r}: invalid percentage {amount!r}") from None
            return _share(name, pct / 100, amount)
        try:
            amount = float(text) if "." in text else int(text)
        except ValueError:
            raise ConfigError(f"queue {name!r}: invalid amount {amount!r}") from None
    if isinstance(amount, int):
        if amount < 0:
            raise ConfigError(f"queue {name!r}: worker count must not be negative, not {amount}")
        return QueueRule(name, count=amount)
    if isinstance(amount, float):
        if amount >= 1 and amount.is_integer():
            return QueueRule(name, count=int(amount))
        return _share(name, amount, amount)
    raise ConfigError(f"queue {name!r}: amount must be a count or a share, not {amount!r}")


def _share(name: str, share: float, given: object) -> QueueRule:
    if not 0 < share <= 1:
        raise ConfigError(f"queue {name!r}: share must be above 0% and at most 100%, not {given!r}")
    return QueueRule(name, share=share)


def cli_queue(spec: str) -> QueueRule:
    """``--queue name[=num[%]]``."""
    name, sep, amount = spec.partition("=")
    if sep and not amount:
        raise ConfigError(f"--queue {spec!r}: missing amount after '='")
    return queue_rule(name, amount if sep else None)


def namespace(value: object, what: str) -> str:
    """A Redis key namespace: any text but an empty one (which would drop the prefix)."""
    text = str(value)
    if not text.strip():
        raise ConfigError(f"{what} must not be empty (the default is resque)")
    return text


def count(value: object, what: str, minimum: int = 0) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{what} must be a whole number, not {value!r}")
    try:
        result = int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        raise ConfigError(f"{what} must be a whole number, not {value!r}") from None
    if result < minimum:
        if minimum == 0:
            raise ConfigError(f"{what} must not be negative, not {value!r}")
        raise ConfigError(f"{what} must be at least {minimum}, not {value!r}")
    return result


TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def switch(value: object, default: bool, name: str) -> bool:
    """An on/off setting (FORK_PER_JOB, TERM_CHILD, ``fork_per_job("off")``): the one parser.

    ``True``/``False``, ``1``/``true``/``yes``/``on`` and ``0``/``false``/``no``/``off``
    (any case, spaces around ignored); None or empty means ``default``; anything
    else is a ConfigError naming the setting.
    """
    if isinstance(value, bool):
        return value
    text = ("" if value is None else str(value)).strip().lower()
    if not text:
        return default
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ConfigError(
        f"{name} must be one of {', '.join(TRUE_WORDS)} or {', '.join(FALSE_WORDS)}, not {value!r}"
    )


def seconds(value: object, what: str, minimum: float = 0.0) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"{what} must be a number of seconds, not {value!r}")
    try:
        result = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be a number of seconds, not {value!r}") from None
    if result != result or result in (float("inf"), float("-inf")):
        raise ConfigError(f"{what} must be a number of seconds, not {value!r}")
    if result < minimum:
        if minimum == 0:
            raise ConfigError(f"{what} must not be negative, not {value!r}")
        raise ConfigError(f"{what} must be at least {minimum:g} seconds, not {value!r}")
    return result


def parse_bind(
    text: str, what: str = "bind address", default_port: int | None = None
) -> tuple[str, int]:
    """``HOST:PORT``, ``[IPv6]:PORT``, ``:PORT`` or ``PORT`` -> (host, port), or ResquedError.

    A missing host is loopback (127.0.0.1), for ``--metrics`` as for ``resqued web
    --bind``: listening beyond the machine is always asked for by name.  A lone
    ``HOST`` (or an unbracketed IPv6 address) takes ``default_port``, when there is one.
    """
    bind = text.strip()
    if bind.startswith("["):
        host, sep, rest = bind[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ResquedError(f"invalid {what} {text!r}: expected [IPv6]:PORT")
        port_text = rest[1:]
    elif bind.count(":") == 1:
        host, _, port_text = bind.partition(":")
    elif bind.isdigit():
        host, port_text = "", bind
    else:
        host, port_text = bind, ""
    host = host or "127.0.0.1"
    if not port_text and default_port is not None:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ResquedError(f"invalid {what} {text!r}: the port must be a number from 1 to 65535")
    return host, int(port_text)
