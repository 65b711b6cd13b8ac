"""One queue's page (GET): the jobs waiting on it, a page at a time, with their arguments.

What it reads is bounded by the page: the depth, one LRANGE of ``PER_PAGE`` jobs
and whether the name is in ``queues``, in one round trip.
"""

from __future__ import annotations

import math

from starlette.requests import Request
from starlette.responses import Response

from resqued.resque.queue_jobs import read_page
from resqued.web.failed_page import number, page_numbers
from resqued.web.render import Head, dashboard, page

PER_PAGE = 20


def queue(request: Request) -> Response:
    store = dashboard(request).store
    name = request.path_params["name"]
    params = request.query_params
    wanted = number(params.get("page"))
    start = (wanted - 1) * PER_PAGE if wanted else number(params.get("start")) or 0
    shown = read_page(store, name, start, PER_PAGE)
    pages = max(1, math.ceil(shown.total / PER_PAGE))
    current = start // PER_PAGE + 1
    return page(
        request,
        "queue.html",
        head=Head.read(store),
        q=shown,
        name=name,
        pages=pages,
        current=current,
        numbers=page_numbers(current, pages) if pages > 1 else [],
        per_page=PER_PAGE,
        past_end=not shown.jobs and start > 0 and shown.total > 0,
    )
