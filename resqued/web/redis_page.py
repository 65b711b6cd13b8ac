"""The Redis page (GET): the server as INFO and SLOWLOG tell it, and the keys under the
namespace with their sizes, a page at a time (read only; see fleet/redis_info.py)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from resqued.fleet.redis_info import namespace_keys, server_view
from resqued.web.failed_page import number
from resqued.web.render import Head, dashboard, page

PER_PAGE = 50


def redis_page(request: Request) -> Response:
    store = dashboard(request).store
    cursor = number(request.query_params.get("cursor")) or 0
    keys = namespace_keys(store, cursor, PER_PAGE)
    return page(
        request,
        "redis.html",
        head=Head.read(store),
        server=server_view(store),
        keys=keys,
        cursor=cursor,
        per_page=PER_PAGE,
    )
