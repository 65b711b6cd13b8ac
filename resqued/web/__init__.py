"""The dashboard (``pip install 'resqued[web]'``): ``serve()`` for the command line,
``create_app()`` for tests and for mounting in another ASGI server.

Starlette, uvicorn and Jinja2 are imported only here, on first use, so the base
package never needs them.
"""

from __future__ import annotations

import importlib.util
import logging
import socket
from typing import Any

from resqued.errors import ResquedError
from resqued.resque.store import Store
from resqued.web.options import Proxy, check_exposure, load_token, parse_bind, url

__all__ = ["create_app", "load_token", "require_extra", "serve"]

log = logging.getLogger("resqued")
BACKLOG = 2048  # uvicorn's default
EXTRA_MODULES = ("starlette", "uvicorn", "jinja2", "multipart", "python_multipart")


def _import_error(exc: ImportError) -> ResquedError:
    return ResquedError(
        f"the dashboard needs the web extra ({exc.name} is missing): pip install 'resqued[web]'"
    )


def require_extra() -> None:
    """Raise the one-line ResquedError naming ``pip install 'resqued[web]'`` when a module
    of the web extra is missing."""
    try:
        import uvicorn  # noqa: F401

        import resqued.web.app  # noqa: F401  (Starlette, Jinja2)
    except ImportError as exc:
        if exc.name and exc.name.split(".")[0] in EXTRA_MODULES:
            raise _import_error(exc) from None
        raise
    # Starlette imports python-multipart lazily and fails only when a form is posted.
    if not any(importlib.util.find_spec(m) for m in ("python_multipart", "multipart")):
        raise _import_error(ModuleNotFoundError(name="python_multipart"))


def create_app(
    store: Store,
    token: str | None = None,
    sample_interval: float = 2.0,
    proxy: Proxy | None = None,
) -> Any:
    """The dashboard as an ASGI application (a Starlette app)."""
    require_extra()
    from resqued.web.app import create_app as build

    return build(store, token, sample_interval, proxy)


def listen(host: str, port: int) -> socket.socket:
    """Bind and listen first, so a busy port is a one-line error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        infos = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ResquedError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock = socket.socket(infos[0][0], socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(infos[0][4])
        # Listen now: the URL printed next answers at once (the kernel queues connections
        # until uvicorn accepts them), not only once uvicorn has started.
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise ResquedError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


def serve(
    bind: str,
    token: str | None,
    store: Store,
    log_level: str = "warning",
    sample_interval: float = 2.0,
    proxy: Proxy | None = None,
) -> None:
    """Run the dashboard in the foreground until SIGINT or SIGTERM.

    Refuses (ResquedError) a bind address beyond loopback, or a proxy, without a token,
    a token shorter than 12 characters, a busy port, or a missing web extra.
    """
    host, port = parse_bind(bind)
    check_exposure(host, token, proxy)
    app = create_app(store, token, sample_interval, proxy)
    import uvicorn

    sock = listen(host, port)
    config = uvicorn.Config(
        app,
        log_level=log_level,
        server_header=False,
        proxy_headers=False,
        access_log=log_level in ("info", "debug", "trace"),
    )
    required = "token required" if token else "no token: loopback only"
    if proxy is not None and proxy.external:
        required += f"; browsers use {proxy.external}"
    if proxy is not None and (proxy.trusted or proxy.trust_all):
        required += "; proxy headers trusted"
    print(f"resqued web: {url(host, port)} ({required}; Redis {store.safe_url})", flush=True)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
