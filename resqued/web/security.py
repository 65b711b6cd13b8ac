"""Who may look and who may change: the token, sessions, CSRF, hosts, origins, proxies.

With a token, every page needs either ``Authorization: Bearer <token>`` or a live
session (``sessions``), which the login form starts.  Every state-changing request
is a POST that carries a CSRF value bound to this dashboard's secret and to the
browser (its session, or before a login its ``resqued_csrf`` cookie): an HMAC no
other page can compute, even one that planted the cookie.  The POST must also come
from the dashboard's own origin: its ``Origin`` (``null`` is refused), else its
``Referer``; a request with neither is refused.  Requests authenticated by the
Bearer header need neither (browsers never add that header by themselves).

Without a token (loopback only) the ``Host`` header must name a loopback address,
which stops DNS-rebinding pages, and a request a proxy passed on is refused: what
a proxy serves, it serves to others.  Every refusal names its cause.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.requests import Request

from resqued.web.options import TOKEN_ENV, Proxy, is_loopback, origin_of
from resqued.web.proxy import Arrival, arrival, loopback_origin
from resqued.web.sessions import Sessions, Throttle

SESSION_COOKIE = "resqued_session"
CSRF_COOKIE = "resqued_csrf"  # the browser's id before a login (random, not a secret)
CSRF_FIELD = "csrf"


class Guard:
    def __init__(
        self,
        token: str | None,
        proxy: Proxy | None = None,
        sessions: Sessions | None = None,
        throttle: Throttle | None = None,
    ) -> None:
        self.token = token
        self.proxy = proxy or Proxy()
        self.sessions = sessions or Sessions()
        self.throttle = throttle or Throttle()
        self._secret = secrets.token_bytes(32)  # CSRF values last as long as this process

    # -- who is asking --------------------------------------------------------------------

    def arrival(self, request: Request) -> Arrival:
        seen: Arrival | None = request.scope.get("resqued.arrival")
        if seen is None:
            seen = arrival(request, self.proxy)
            request.scope["resqued.arrival"] = seen
        return seen

    def token_matches(self, given: str) -> bool:
        return self.token is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def bearer_given(self, request: Request) -> str | None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        return given.strip() if scheme.lower() == "bearer" else None

    def bearer(self, request: Request) -> bool:
        given = self.bearer_given(request)
        return given is not None and self.token_matches(given)

    def session(self, request: Request) -> str | None:
        """The request's live session id, if it has one."""
        sid = request.cookies.get(SESSION_COOKIE, "")
        return sid if self.token is not None and self.sessions.valid(sid) else None

    def authorized(self, request: Request) -> bool:
        if self.token is None:
            return True
        return self.bearer(request) or self.session(request) is not None

    # -- before anything ------------------------------------------------------------------

    def refusal(self, request: Request) -> str | None:
        """Why this request may not be served at all (no token: loopback only), or None."""
        if self.token is not None:
            return None
        seen = self.arrival(request)
        if seen.proxied:
            return (
                "Forbidden: this dashboard has no token, and this request came through a "
                f"proxy ({', '.join(seen.proxied)}): reached through a proxy, it needs a token "
                f"(${TOKEN_ENV} or --token-file)."
            )
        if not is_loopback(seen.host_name):
            return (
                f"Forbidden: this dashboard has no token and answers only to loopback names, "
                f"not to Host {seen.host_header!r}: give it a token to serve other names."
            )
        page = request.headers.get("origin") or origin_of(request.headers.get("referer", ""))
        same = request.headers.get("sec-fetch-site") == "same-origin"
        if same and page and page != seen.origin and not loopback_origin(page):
            return (
                f"Forbidden: this dashboard has no token, and the browser reached it as {page} "
                "(a proxy in front of it?): a dashboard served beyond loopback needs a token "
                f"(${TOKEN_ENV} or --token-file)."
            )
        return None

    # -- CSRF -----------------------------------------------------------------------------

    def csrf_value(self, binding: str) -> str:
        return hmac.new(self._secret, b"csrf\0" + binding.encode(), hashlib.sha256).hexdigest()

    def csrf_binding(self, request: Request) -> str | None:
        """What this browser's CSRF value is bound to: its session, else its id cookie."""
        sid = self.session(request)
        return f"session:{sid}" if sid else _browser(request.cookies.get(CSRF_COOKIE))

    def origins(self, request: Request) -> list[str]:
        seen = self.arrival(request)
        return [o for o in (self.proxy.external, seen.origin) if o]

    def post_refusal(self, request: Request, submitted: str) -> str | None:
        """Why this POST may not change anything (origin, CSRF), or None."""
        if self.token is not None and self.bearer(request):
            return None
        why = self._origin_refusal(request)
        if why:
            return why
        if not submitted:
            return "Forbidden: the form has no CSRF value: post from the dashboard's own pages."
        binding = self.csrf_binding(request)
        if binding is None:
            return (
                "Forbidden: no dashboard cookie came with the form (cookies blocked, or a "
                "Secure cookie sent back over plain HTTP?): reload the page and try again."
            )
        if not hmac.compare_digest(submitted.encode(), self.csrf_value(binding).encode()):
            return (
                "Forbidden: the form's CSRF value is not this browser's (the page was loaded "
                "before a login, a logout or a restart of the dashboard): reload the page."
            )
        return None

    def _origin_refusal(self, request: Request) -> str | None:
        origin = request.headers.get("origin")
        if origin is not None and origin.strip().lower() == "null":
            return (
                "Forbidden: the form was posted from an opaque origin (Origin: null: a "
                "sandboxed frame, a file or a data: URL), not from the dashboard's pages."
            )
        if origin is None:
            origin = origin_of(request.headers.get("referer", ""))
            if origin is None:
                return (
                    "Forbidden: the request has neither an Origin nor a Referer header, so it "
                    "cannot be told from another site's form: post from the dashboard's pages "
                    "(scripts: Authorization: Bearer)."
                )
        else:
            origin = origin_of(origin) or origin
        allowed = self.origins(request)
        if origin in allowed:
            return None
        return explain_origin(origin, self.arrival(request), self.proxy)


def _browser(cookie: str | None) -> str | None:
    return f"browser:{cookie}" if cookie else None


def new_browser_id() -> str:
    return secrets.token_urlsafe(24)


def explain_origin(origin: str, seen: Arrival, proxy: Proxy) -> str:
    """Why a form from ``origin`` is not this dashboard's, naming the likely cause."""
    head = f"Forbidden: the form was posted from {origin}, "
    if proxy.external:
        return head + f"but this dashboard is {proxy.external} (--external-url)."
    me = f"but the dashboard sees itself as {seen.origin}"
    if seen.proxied and not seen.trusted:
        return (
            head + f"{me} (its Host header); the request came through a proxy "
            f"({', '.join(seen.proxied)}) that is not trusted: start resqued web with "
            f"--proxy-headers and --forwarded-allow-ips naming the proxy's address "
            f"({seen.peer}), or with --external-url {origin}."
        )
    if seen.trusted:
        return (
            head + f"{me} from its proxy's X-Forwarded-Host/-Proto/-Port: have the proxy "
            f"pass the host and port the browser used, or start with --external-url {origin}."
        )
    return (
        head + f"{me} (its Host header): another site's form is refused. Behind a reverse "
        "proxy, pass X-Forwarded-Host and X-Forwarded-Proto (--proxy-headers) or start with "
        f"--external-url {origin}."
    )


def safe_next(path: str | None, default: str = "/") -> str:
    """A redirect target inside this site only (``/x``, never ``//host`` or ``http:...``)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return default
    return path
