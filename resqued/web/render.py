"""Server-rendered pages: the Jinja environment, one page helper, notices, redirects."""

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
from resqued.fleet.rates import RateSampler
from resqued.resque.store import Store
from resqued.version import __version__
from resqued.web.security import CSRF_COOKIE, Guard, new_csrf_token, safe_next

TEMPLATES = Path(__file__).resolve().parent / "templates"
NOTICE_COOKIE = "resqued_notice"
REFRESH_SECONDS = 2


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
            pretty=lambda v: json.dumps(v, indent=2, ensure_ascii=False, sort_keys=False),
            urlpart=lambda v: quote(str(v), safe=""),
        )
        self.env.globals.update(fmt=fmt, version=__version__, refresh=REFRESH_SECONDS)


def dashboard(request: Request) -> Dashboard:
    dash: Dashboard = request.app.state.dashboard
    return dash


def page(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    """Render ``template``: the whole page, or only its ``<main>`` for a live refresh (304
    when it is the ``<main>`` the browser has, named by its ETag)."""
    dash = dashboard(request)
    csrf = request.cookies.get(CSRF_COOKIE) or new_csrf_token()
    partial = request.headers.get("x-partial") == "1"
    notice = None if partial else request.cookies.get(NOTICE_COOKIE)
    html = dash.env.get_template(template).render(
        request=request,
        path=request.url.path,
        csrf=csrf,
        partial=partial,
        notice=_decode_notice(notice),
        token_required=dash.guard.token is not None,
        **context,
    )
    # A live refresh that would show the same <main> again gets 304 and no body.
    etag = '"' + hashlib.sha1(html.encode()).hexdigest()[:20] + '"'
    fresh = CSRF_COOKIE in request.cookies and status == 200
    if partial and fresh and request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"etag": etag})
    response = HTMLResponse(html, status_code=status, headers={"etag": etag})
    if CSRF_COOKIE not in request.cookies:
        response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict")
    if notice:
        response.delete_cookie(NOTICE_COOKIE)
    return response


def _decode_notice(raw: str | None) -> dict[str, str] | None:
    if not raw:
        return None
    kind, _, text = unquote(raw).partition(":")
    return {"kind": "error" if kind == "error" else "ok", "text": text}


def back(target: str | None, fallback: str, text: str, error: bool = False) -> Response:
    """After a POST: 303 to the page it came from (``target``, if local), with a notice."""
    response = RedirectResponse(safe_next(target, fallback), status_code=303)
    value = quote(("error:" if error else "ok:") + text[:300], safe="")
    response.set_cookie(NOTICE_COOKIE, value, httponly=True, samesite="strict", max_age=60)
    return response
