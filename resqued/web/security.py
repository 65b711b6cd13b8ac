"""Who may look and who may change: the token, the session cookie, CSRF, allowed hosts.

With a token, every page needs either ``Authorization: Bearer <token>`` or the
session cookie the login form sets.  Every state-changing request is a POST
that carries the CSRF cookie's value in its ``csrf`` field (double submit) and,
when the browser sends one, an ``Origin`` of this very host; requests
authenticated by the Bearer header need no CSRF field (browsers never add that
header by themselves).  Without a token (loopback only), the ``Host`` header
must name a loopback address, which stops DNS-rebinding pages from reading it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from starlette.requests import Request

from resqued.web.options import is_loopback

SESSION_COOKIE = "resqued_session"
CSRF_COOKIE = "resqued_csrf"
CSRF_FIELD = "csrf"


def _host_name(host_header: str) -> str:
    """``127.0.0.1:5678`` -> ``127.0.0.1``; ``[::1]:5678`` -> ``::1``."""
    if host_header.startswith("["):
        return host_header[1:].partition("]")[0]
    return host_header.rpartition(":")[0] if ":" in host_header else host_header


class Guard:
    def __init__(self, token: str | None) -> None:
        self.token = token
        self._secret = secrets.token_bytes(32)  # sessions last as long as this process

    @property
    def session_value(self) -> str:
        assert self.token is not None
        return hmac.new(self._secret, self.token.encode(), hashlib.sha256).hexdigest()

    def token_matches(self, given: str) -> bool:
        return self.token is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def bearer(self, request: Request) -> bool:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and self.token_matches(given.strip())

    def authorized(self, request: Request) -> bool:
        if self.token is None:
            return True
        if self.bearer(request):
            return True
        cookie = request.cookies.get(SESSION_COOKIE, "")
        return hmac.compare_digest(cookie.encode(), self.session_value.encode())

    def host_allowed(self, request: Request) -> bool:
        """Without a token only loopback names reach the pages (DNS rebinding)."""
        if self.token is not None:
            return True
        return is_loopback(_host_name(request.headers.get("host", "")))

    def csrf_ok(self, request: Request, submitted: str) -> bool:
        if self.token is not None and self.bearer(request):
            return True
        cookie = request.cookies.get(CSRF_COOKIE, "")
        if not cookie or not hmac.compare_digest(cookie.encode(), submitted.encode()):
            return False
        origin = request.headers.get("origin")
        if origin and origin != "null":
            return urlsplit(origin).netloc == request.headers.get("host", "")
        return True


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def safe_next(path: str | None, default: str = "/") -> str:
    """A redirect target inside this site only (``/x``, never ``//host`` or ``http:...``)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return default
    return path
