"""``resqued web``: the dashboard (``pip install 'resqued[web]'``) in the foreground."""

from __future__ import annotations

import argparse
import signal
import sys
from types import FrameType

from resqued.cli.common import add_redis_args, parser, store
from resqued.web import require_extra, serve
from resqued.web.options import (
    ALLOW_IPS_ENV,
    DEFAULT_ALLOW_IPS,
    DEFAULT_BIND,
    TOKEN_ENV,
    check_exposure,
    load_token,
    parse_bind,
    proxy_options,
    token_file_warning,
)


def _parser() -> argparse.ArgumentParser:
    p = parser(
        "web",
        "Serve the dashboard (needs the web extra: pip install 'resqued[web]') until "
        "SIGINT or SIGTERM. On loopback it needs no token; bound to any other address it "
        f"refuses to start without one (${TOKEN_ENV} or --token-file).",
    )
    p.add_argument(
        "--bind",
        default=DEFAULT_BIND,
        metavar="HOST:PORT",
        help=f"where to listen (default {DEFAULT_BIND}; [::1]:PORT for IPv6)",
    )
    p.add_argument(
        "--token-file",
        metavar="FILE",
        help=f"read the access token from the first line of FILE (default: ${TOKEN_ENV}); "
        "at least 12 characters",
    )
    p.add_argument(
        "--proxy-headers",
        action="store_true",
        help="behind a reverse proxy: believe its X-Forwarded-For, -Proto, -Host and -Port "
        "(from the addresses of --forwarded-allow-ips only); needs a token",
    )
    p.add_argument(
        "--forwarded-allow-ips",
        metavar="IPS",
        help=f"comma-separated addresses or networks of the trusted proxies, * for any "
        f"(default ${ALLOW_IPS_ENV} or {DEFAULT_ALLOW_IPS}); implies --proxy-headers",
    )
    p.add_argument(
        "--external-url",
        metavar="URL",
        help="the address browsers use, such as https://jobs.example.com/ (forms must come "
        "from it; Secure cookies when https); needs a token",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log every request")
    add_redis_args(p)
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    host, _ = parse_bind(args.bind)
    token = load_token(args.token_file)
    proxy = proxy_options(args.proxy_headers, args.forwarded_allow_ips, args.external_url)
    check_exposure(host, token, proxy)  # flags first, then the extra, then Redis: one line each
    warning = token_file_warning(args.token_file)
    if warning:
        print(f"resqued: warning: {warning}", file=sys.stderr, flush=True)
    require_extra()
    st = store(args)
    # uvicorn stops gracefully on SIGINT and SIGTERM, then raises the signal again to the
    # handler found at start: this one, so that a requested stop exits with status 0.
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    serve(args.bind, token, st, log_level="info" if args.verbose else "warning", proxy=proxy)
    return 0


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)
