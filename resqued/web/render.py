"""Server-rendered pages: the Jinja environment, one page helper, cookies, notices, redirects."""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from resqued.fleet import fmt
from resqued.fleet.model import Fleet
from resqued.fleet.parse import parse_time
from resqued.fleet.rates import RateSampler
from resqued.resque.store import Store
from resqued.version import __version__
from resqued.web.security import CSRF_COOKIE, Guard, new_browser_id, safe_next

TEMPLATES = Path(__file__).resolve().parent / "templates"
NOTICE_COOKIE = "resqued_notice"
REFRESH_SECONDS = 2


@dataclass(frozen=True)
class Head:
    """What every page's frame shows: Redis, its time, and whether every worker is paused."""

    taken_at: float
    redis: str
    namespace: str
    paused_all: bool

    @classmethod
    def of(cls, fleet: Fleet) -> Head:
        return cls(fleet.taken_at, fleet.redis, fleet.namespace, fleet.paused_all)

    @classmethod
    def read(cls, store: Store) -> Head:
        """Two commands in one round trip: TIME and the pause-all key."""
        pipe = store.redis.pipeline(transaction=False)
        pipe.time()
        pipe.get(store.keys.pause)
        (sec, usec), paused = pipe.execute()
        on = paused is not None and fmt_text(paused).strip().lower() == "true"
        return cls(sec + usec / 1e6, store.safe_url, store.keys.namespace, on)


def fmt_text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def when(value: Any) -> str:
    """Every time on every page in one form: ``2024-01-01 12:00:00 UTC`` (``?`` if none);
    a text no tool's format reads is shown as it is."""
    if value is None or value == "":
        return "?"
    epoch = parse_time(value)
    return fmt.utc(epoch) if epoch is not None else str(value)


@dataclass
class Dashboard:
    """Everything the handlers share: Redis, the guard, the jobs/s samples, the templates."""

    store: Store
    guard: Guard
    sample_interval: float
    sampler: RateSampler = field(default_factory=RateSampler)
    lock: threading.Lock = field(default_factory=threading.Lock)
    env: jinja2.Environment = field(
        default_factory=lambda: jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
    )

    def __post_init__(self) -> None:
        self.env.filters.update(
            duration=fmt.duration,
            utc=fmt.utc,
            when=when,
            pretty=lambda v: json.dumps(v, indent=2, ensure_ascii=False, sort_keys=False),
            compact=lambda v: json.dumps(v, ensure_ascii=False, separators=(", ", ": ")),
            urlpart=lambda v: quote(str(v), safe=""),
        )
        self.env.globals.update(fmt=fmt, version=__version__, refresh=REFRESH_SECONDS)


def dashboard(request: Request) -> Dashboard:
    dash: Dashboard = request.app.state.dashboard
    return dash


def set_cookie(request: Request, response: Response, name: str, value: str, **kw: Any) -> None:
    """HttpOnly, SameSite=Lax (a link from a ticket lands logged in), Secure when the
    browser came over HTTPS (as a trusted proxy or --external-url says)."""
    guard = dashboard(request).guard
    external = guard.proxy.external or ""
    secure = guard.arrival(request).secure or external.startswith("https://")
    response.set_cookie(name, value, httponly=True, samesite="lax", secure=secure, **kw)


def page(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    """Render ``template``: the whole page, or only its ``<main>`` for a live refresh (304
    when it is the ``<main>`` the browser has, named by its ETag)."""
    dash = dashboard(request)
    guard = dash.guard
    binding = guard.csrf_binding(request)
    browser_id = None
    if binding is None:
        browser_id = new_browser_id()
        binding = f"browser:{browser_id}"
    partial = request.headers.get("x-partial") == "1"
    notice = None if partial else request.cookies.get(NOTICE_COOKIE)
    if "head" not in context:
        fleet = context.get("fleet")
        context["head"] = Head.of(fleet) if fleet is not None else Head.read(dash.store)
    html = dash.env.get_template(template).render(
        request=request,
        path=request.url.path,
        csrf=guard.csrf_value(binding),
        partial=partial,
        notice=_decode_notice(notice),
        token_required=guard.token is not None,
        signed_in=guard.token is not None and guard.session(request) is not None,
        sessions=guard.sessions,
        **context,
    )
    # A live refresh that would show the same <main> again gets 304 and no body.
    etag = '"' + hashlib.sha1(html.encode()).hexdigest()[:20] + '"'
    fresh = browser_id is None and status == 200
    if partial and fresh and request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"etag": etag})
    response = HTMLResponse(html, status_code=status, headers={"etag": etag})
    if browser_id is not None:
        set_cookie(request, response, CSRF_COOKIE, browser_id)
    if notice:
        response.delete_cookie(NOTICE_COOKIE)
    return response


def _decode_notice(raw: str | None) -> dict[str, str] | None:
    if not raw:
        return None
    kind, _, text = unquote(raw).partition(":")
    return {"kind": "error" if kind == "error" else "ok", "text": text}


def back(
    request: Request, target: str | None, fallback: str, text: str, error: bool = False
) -> Response:
    """After a POST: 303 to the page it came from (``target``, if local), with a notice."""
    response = RedirectResponse(safe_next(target, fallback), status_code=303)
    value = quote(("error:" if error else "ok:") + text[:300], safe="")
    set_cookie(request, response, NOTICE_COOKIE, value, max_age=60)
    return response
