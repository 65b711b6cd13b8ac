"""Where the dashboard listens and what it asks for: the bind address, loopback, the token,
and the reverse proxy in front of it (trusted addresses, forwarded headers, external URL).

Standard library only, so the command line can check its flags before the web
extra is imported.
"""

from __future__ import annotations

import ipaddress
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from resqued.config import values
from resqued.errors import ResquedError

DEFAULT_PORT = 5678
DEFAULT_BIND = f"127.0.0.1:{DEFAULT_PORT}"
TOKEN_ENV = "RESQUED_WEB_TOKEN"
ALLOW_IPS_ENV = "FORWARDED_ALLOW_IPS"  # as uvicorn and gunicorn read it
DEFAULT_ALLOW_IPS = "127.0.0.1"
MIN_TOKEN = 12  # characters
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


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


@dataclass(frozen=True)
class Proxy:
    """The reverse proxy in front of the dashboard, as ``resqued web`` was told of it.

    ``trusted``: the addresses whose ``X-Forwarded-For``, ``-Proto``, ``-Host`` and
    ``-Port`` are believed (empty: none, the default); ``external``: the origin the
    browsers use (``https://dash.example``), or None.
    """

    trusted: tuple[Network, ...] = ()
    trust_all: bool = False
    external: str | None = None

    @property
    def configured(self) -> bool:
        return bool(self.trusted or self.trust_all or self.external)

    def trusts(self, address: str) -> bool:
        if self.trust_all:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.trusted)


def parse_allow_ips(text: str) -> tuple[tuple[Network, ...], bool]:
    """``127.0.0.1,10.0.0.0/8`` -> networks; ``*`` trusts every address (as uvicorn)."""
    nets: list[Network] = []
    trust_all = False
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if item == "*":
            trust_all = True
            continue
        try:
            nets.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ResquedError(
                f"invalid --forwarded-allow-ips entry {item!r}: not an IP address or network"
            ) from None
    if not nets and not trust_all:
        raise ResquedError("--forwarded-allow-ips names no address")
    return tuple(nets), trust_all


def origin_of(url: str) -> str | None:
    """``https://Dash.example:443/x`` -> ``https://dash.example``; None if not http(s)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower()
    shown = f"[{host}]" if ":" in host else host
    if port is not None and port != {"http": 80, "https": 443}[parts.scheme]:
        shown += f":{port}"
    return f"{parts.scheme}://{shown}"


def parse_external_url(url: str) -> str:
    origin = origin_of(url)
    path = urlsplit(url.strip()).path if origin else ""
    if origin is None or path not in ("", "/"):
        raise ResquedError(
            f"invalid --external-url {url!r}: expected http(s)://HOST[:PORT]/ (the dashboard "
            "is served at the root of its host)"
        )
    return origin


def proxy_options(proxy_headers: bool, allow_ips: str | None, external_url: str | None) -> Proxy:
    """The flags ``--proxy-headers``, ``--forwarded-allow-ips`` (default
    ``$FORWARDED_ALLOW_IPS`` or 127.0.0.1, as uvicorn) and ``--external-url``; naming
    the allowed addresses turns proxy headers on."""
    nets: tuple[Network, ...] = ()
    trust_all = False
    if proxy_headers or allow_ips:
        given = allow_ips or os.environ.get(ALLOW_IPS_ENV) or DEFAULT_ALLOW_IPS
        nets, trust_all = parse_allow_ips(given)
    external = parse_external_url(external_url) if external_url else None
    return Proxy(nets, trust_all, external)


def check_exposure(host: str, token: str | None, proxy: Proxy | None = None) -> None:
    """Refuse to listen beyond loopback, or behind a proxy, without a token; refuse a token
    too short to guess."""
    if token is not None and len(token) < MIN_TOKEN:
        raise ResquedError(f"the dashboard token is too short: use at least {MIN_TOKEN} characters")
    if not token and not is_loopback(host):
        raise ResquedError(
            f"refusing to serve the dashboard on {host} without a token: set ${TOKEN_ENV} "
            "(or a token file), or bind to 127.0.0.1"
        )
    if not token and proxy is not None and proxy.configured:
        raise ResquedError(
            "refusing to serve the dashboard behind a proxy (--proxy-headers, "
            f"--forwarded-allow-ips, --external-url) without a token: set ${TOKEN_ENV} "
            "(or a token file)"
        )


def load_token(token_file: str | None = None) -> str | None:
    """The token from ``token_file`` (first line), else ``$RESQUED_WEB_TOKEN``, else None.

    Never from a command-line value: that would show in ``ps``.  A token file any user
    may read (or write) is refused; see ``token_file_warning`` for a group's.
    """
    if token_file:
        try:
            mode = os.stat(token_file).st_mode
            lines = Path(token_file).read_text().splitlines()
        except OSError as exc:
            raise ResquedError(f"cannot read token file {token_file}: {exc.strerror}") from None
        if mode & (stat.S_IROTH | stat.S_IWOTH | stat.S_IWGRP):
            raise ResquedError(
                f"token file {token_file} may be read or written by other users (mode "
                f"{stat.S_IMODE(mode):04o}): chmod 600 {token_file}"
            )
        token = lines[0].strip() if lines else ""
        if not token:
            raise ResquedError(f"token file {token_file} is empty")
        return token
    return os.environ.get(TOKEN_ENV) or None


def token_file_warning(token_file: str | None) -> str | None:
    """A warning when the token file's group may read it (0640: fine for a group of its own)."""
    if not token_file:
        return None
    try:
        mode = os.stat(token_file).st_mode
    except OSError:
        return None
    if mode & stat.S_IRGRP:
        return (
            f"token file {token_file} is readable by its group (mode {stat.S_IMODE(mode):04o}): "
            "every member can use the dashboard"
        )
    return None


def url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    if host in ("0.0.0.0", "::"):
        shown = "127.0.0.1" if host == "0.0.0.0" else "[::1]"
    return f"http://{shown}:{port}/"
