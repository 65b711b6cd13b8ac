"""Keep secrets out of messages: the one function every log line and error goes through.

``redact(text)`` replaces, in any text, the credentials of every URL
(``scheme://user:password@host`` keeps ``user:***@``; a lone ``secret@`` becomes
``***@``), every ``...pass...=value`` query option, and every secret this
process has parsed out of a Redis URL (``remember``), wherever it appears.

A password may hold ``/``, ``@``, ``?`` or ``#`` when the user forgot to
percent-encode it, so the credentials are taken to run up to the *last* ``@``
of the URL: a URL that does not parse is still shown without its password.
"""

from __future__ import annotations

import re

MIN_SECRET = 4  # shorter "secrets" would blank out ordinary words in every log line
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]*")
_PASS_OPTION = re.compile(r"([?&;][^=&;]*pass[^=&;]*=)[^&;]*", re.IGNORECASE)
_secrets: set[str] = set()


def remember(secret: str | None) -> None:
    """Blank ``secret`` out of every message this process redacts from now on."""
    if secret and len(secret) >= MIN_SECRET:
        _secrets.add(secret)


def redact_url(url: str) -> str:
    """One URL without its password (or lone user-info, which may be a password)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    at = rest.rfind("@")
    if at >= 0:
        user, colon, _ = rest[:at].partition(":")
        rest = (f"{user}:***" if colon else "***") + rest[at:]
    return scheme + sep + _PASS_OPTION.sub(r"\1***", rest)


def redact(text: str) -> str:
    """``text`` with every URL's credentials and every remembered secret replaced by ***."""
    if "://" in text:
        text = _URL.sub(lambda m: redact_url(m.group()), text)
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, "***")
    return text
