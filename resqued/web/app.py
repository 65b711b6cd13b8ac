"""The dashboard application (Starlette): routes, the access check, the jobs/s sampler."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from resqued.resque.connection import redact
from resqued.resque.store import Store
from resqued.web import (
    actions,
    confirm,
    failed_page,
    pages,
    queue_page,
    redis_page,
    scheduling,
    worker_page,
)
from resqued.web.options import Proxy
from resqued.web.render import Dashboard, page
from resqued.web.security import Guard, safe_next

log = logging.getLogger("resqued")
STATIC = Path(__file__).resolve().parent / "static"
MAX_BODY = 64 * 1024  # forms are small; nothing bigger is read
OPEN_PATHS = ("/login", "/static/")
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]


class AccessCheck:
    """The no-token rules, sizes, the token check and security headers, before every route."""

    def __init__(self, app: ASGIApp, guard: Guard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        refusal = self.refusal(request)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        if refusal is not None:
            await refusal(scope, receive, with_headers)
        else:
            await self.app(scope, receive, with_headers)

    def refusal(self, request: Request) -> Response | None:
        guard, path = self.guard, request.url.path
        why = guard.refusal(request)
        if why:
            return _plain(request, why, 403)
        length = request.headers.get("content-length", "")
        if request.method == "POST" and not (length.isdigit() and int(length) <= MAX_BODY):
            return _plain(request, "A form of at most 64 KiB, with a length, please.", 413)
        if guard.authorized(request) or path.startswith(OPEN_PATHS):
            return None
        client = guard.arrival(request).client
        if guard.bearer_given(request) is not None:  # a wrong token: a guess, throttled
            wait = guard.throttle.wait(client)
            if wait > 0:
                return _plain(request, _too_many(wait), 429, {"retry-after": f"{wait:.0f}"})
            guard.throttle.failed(client)
            return _plain(request, "Unauthorized: that is not the token.", 401)
        if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            target = path + ("?" + request.url.query if request.url.query else "")
            return RedirectResponse("/login?next=" + quote(target, safe="/"), 303)
        return _plain(request, "Unauthorized: a token is required.", 401)


def _too_many(wait: float) -> str:
    return f"Too many failed logins from this address: try again in {max(1, round(wait))} s."


def _plain(
    request: Request, text: str, status: int, headers: dict[str, str] | None = None
) -> Response:
    """A refusal: JSON for /api/, plain text otherwise."""
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": text}, status, headers=headers)
    return PlainTextResponse(text, status, headers=headers)


def login_page(request: Request) -> Response:
    target = safe_next(request.query_params.get("next"))
    return page(request, "login.html", next=target, failed=False, wait=0, head=None)


def redis_down(request: Request, exc: Exception) -> Response:
    text = redact(str(exc))
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": f"cannot read Redis: {text}"}, 503)
    return page(request, "redis_down.html", 503, error=text, head=None)


def _sample_loop(dash: Dashboard, stop: threading.Event) -> None:
    down = False
    while True:
        try:
            with dash.lock:
                dash.sampler.sample(dash.store)
            down = False
        except redis.RedisError as exc:
            if not down:
                log.warning("dashboard: cannot sample job counts: %s", redact(str(exc)))
            down = True
        if stop.wait(dash.sample_interval):
            return


def create_app(
    store: Store,
    token: str | None = None,
    sample_interval: float = 2.0,
    proxy: Proxy | None = None,
) -> Starlette:
    """The dashboard for ``store``; with ``token``, every page asks for it; ``proxy``: the
    reverse proxy in front of it."""
    dash = Dashboard(store, Guard(token, proxy), sample_interval)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        stop = threading.Event()
        sampler = threading.Thread(
            target=_sample_loop, args=(dash, stop), name="resqued-web-sampler", daemon=True
        )
        sampler.start()
        try:
            yield
        finally:
            stop.set()
            sampler.join(5)

    post = list(actions.ACTIONS)
    routes = [
        Route("/", pages.overview),
        Route("/hosts", pages.hosts),
        Route("/workers", pages.workers),
        Route("/workers/{worker_id:path}", worker_page.worker),
        Route("/queues", pages.queues),
        Route("/queues/{name:path}", queue_page.queue),
        Route("/failed", failed_page.failed),
        Route("/failed/{index:int}", failed_page.failed_job),
        Route("/confirm", confirm.confirm_page),
        Route("/redis", redis_page.redis_page),
        Route("/delayed", scheduling.delayed),
        Route("/delayed/{epoch:int}", scheduling.delayed_second),
        Route("/schedule", scheduling.schedule),
        Route("/api/fleet.json", pages.fleet_json),
        Route("/login", login_page, methods=["GET"]),
        *(Route(p, actions.dispatch, methods=["POST"]) for p in post),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={redis.RedisError: redis_down},
    )
    app.state.dashboard = dash
    app.add_middleware(AccessCheck, guard=dash.guard)
    return app
