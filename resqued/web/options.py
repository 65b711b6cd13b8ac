"""Where the dashboard listens and what it asks for: the bind address, loopback, the token.

Standard library only, so the command line can check its flags before the web
extra is imported.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

from resqued.config import values
from resqued.errors import ResquedError

DEFAULT_PORT = 5678
DEFAULT_BIND = f"127.0.0.1:{DEFAULT_PORT}"
TOKEN_ENV = "RESQUED_WEB_TOKEN"
MIN_TOKEN = 12  # characters


def parse_bind(bind: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[IPv6]:PORT``, ``HOST`` (port 5678) or ``:PORT`` (127.0.0.1)."""
    return values.parse_bind(bind, "bind address", DEFAULT_PORT)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, token: str | None) -> None:
    """Refuse to listen beyond loopback without a token; refuse a token too short to guess."""
    if token is not None and len(token) < MIN_TOKEN:
        raise ResquedError(f"the dashboard token is too short: use at least {MIN_TOKEN} characters")
    if not token and not is_loopback(host):
        raise ResquedError(
            f"refusing to serve the dashboard on {host} without a token: set ${TOKEN_ENV} "
            "(or a token file), or bind to 127.0.0.1"
        )


def load_token(token_file: str | None = None) -> str | None:
    """The token from ``token_file`` (first line), else ``$RESQUED_WEB_TOKEN``, else None.

    Never from a command-line value: that would show in ``ps``.
    """
    if token_file:
        try:
            lines = Path(token_file).read_text().splitlines()
        except OSError as exc:
            raise ResquedError(f"cannot read token file {token_file}: {exc.strerror}") from None
        token = lines[0].strip() if lines else ""
        if not token:
            raise ResquedError(f"token file {token_file} is empty")
        return token
    return os.environ.get(TOKEN_ENV) or None


def url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    if host in ("0.0.0.0", "::"):
        shown = "127.0.0.1" if host == "0.0.0.0" else "[::1]"
    return f"http://{shown}:{port}/"
