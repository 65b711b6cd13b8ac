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
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from resqued.resque.connection import redact
from resqued.resque.store import Store
from resqued.web import actions, pages, scheduling
from resqued.web.render import Dashboard, page
from resqued.web.security import Guard

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
    """Host check, token check and security headers, in front of every route."""

    def __init__(self, app: ASGIApp, guard: Guard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        path = request.url.path
        refusal: Response | None = None
        length = request.headers.get("content-length", "")
        if not self.guard.host_allowed(request):
            refusal = PlainTextResponse("Forbidden: unknown Host header.", 403)
        elif request.method == "POST" and not (length.isdigit() and int(length) <= MAX_BODY):
            refusal = PlainTextResponse("A form of at most 64 KiB, with a length, please.", 413)
        elif not self.guard.authorized(request) and not path.startswith(OPEN_PATHS):
            if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
                refusal = RedirectResponse("/login?next=" + quote(path, safe="/"), 303)
            else:
                refusal = PlainTextResponse("Unauthorized: a token is required.", 401)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        if refusal is not None:
            await refusal(scope, receive, with_headers)
        else:
            await self.app(scope, receive, with_headers)


def login_page(request: Request) -> Response:
    return page(request, "login.html", next=request.query_params.get("next") or "/", failed=False)


def redis_down(request: Request, exc: Exception) -> Response:
    text = redact(str(exc))
    return page(request, "redis_down.html", 503, error=text)


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


def create_app(store: Store, token: str | None = None, sample_interval: float = 2.0) -> Starlette:
    """The dashboard for ``store``; with ``token``, every page asks for it."""
    dash = Dashboard(store, Guard(token), sample_interval)

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
        Route("/workers/{worker_id:path}", pages.worker),
        Route("/queues", pages.queues),
        Route("/delayed", scheduling.delayed),
        Route("/delayed/{epoch:int}", scheduling.delayed_second),
        Route("/schedule", scheduling.schedule),
        Route("/failed", pages.failed),
        Route("/failed/{index:int}", pages.failed_job),
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
