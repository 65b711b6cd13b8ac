"""How a request reached the dashboard: the origin the browser used, the client's address,
and whether a proxy passed it on (believed only from the trusted addresses)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.requests import Request

from resqued.web.options import Proxy, is_loopback, origin_of

# Headers a proxy adds; any of them means the request was passed on, trusted or not.
FORWARDING = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "via")
_HOST = re.compile(r"\A(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(:[0-9]{1,5})?\Z")


@dataclass(frozen=True)
class Arrival:
    """One request as the dashboard understands it."""

    origin: str  # scheme://host[:port] the browser used (as far as it can be told)
    client: str  # the client's address (X-Forwarded-For's, from a trusted proxy)
    peer: str  # the address that connected
    trusted: bool  # the peer is a trusted proxy
    proxied: tuple[str, ...]  # what says a proxy passed it on (header names, "HTTP/1.0")
    host_header: str

    @property
    def secure(self) -> bool:
        return self.origin.startswith("https://")

    @property
    def host_name(self) -> str:
        """The Host header's name, without its port (``[::1]:5678`` -> ``::1``)."""
        h = self.host_header
        if h.startswith("["):
            return h[1:].partition("]")[0]
        return h.rpartition(":")[0] if ":" in h else h


def _first(value: str) -> str:
    return value.split(",")[0].strip()


def arrival(request: Request, proxy: Proxy) -> Arrival:
    headers = request.headers
    peer = request.client.host if request.client else ""
    trusted = proxy.trusts(peer) if peer else False
    proxied = [h for h in FORWARDING if h in headers]
    # A browser speaks HTTP/1.1 or newer: HTTP/1.0 carrying a browser's Sec-Fetch headers
    # is nginx's proxy_pass as it comes (no forwarded header at all).
    if request.scope.get("http_version") == "1.0" and "sec-fetch-mode" in headers:
        proxied.append("HTTP/1.0")
    scheme = request.url.scheme if request.url.scheme in ("http", "https") else "http"
    host = headers.get("host", "")
    client = peer
    if trusted:
        proto = _first(headers.get("x-forwarded-proto", "")).lower()
        scheme = proto if proto in ("http", "https") else scheme
        fwd_host = _first(headers.get("x-forwarded-host", ""))
        named = _HOST.match(fwd_host)
        if named:
            port = _first(headers.get("x-forwarded-port", ""))
            has_port = named.group(2) is not None
            host = f"{fwd_host}:{port}" if port.isdigit() and not has_port else fwd_host
        client = _client(headers.get("x-forwarded-for", ""), proxy) or peer
    shown = origin_of(f"{scheme}://{host}") if _HOST.match(host) else None
    return Arrival(shown or f"{scheme}://invalid-host", client, peer, trusted, tuple(proxied), host)


def _client(forwarded_for: str, proxy: Proxy) -> str:
    """The right-most address of X-Forwarded-For that is not a trusted proxy (uvicorn's rule)."""
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not proxy.trusts(hop):
            return hop
    return hops[0] if hops else ""


def loopback_origin(origin: str | None) -> bool:
    """Whether ``origin`` (``http://127.0.0.1:5678``) names a loopback host."""
    try:
        host = urlsplit(origin or "").hostname
    except ValueError:
        return False
    return host is not None and is_loopback(host)
