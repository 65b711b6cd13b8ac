"""The failed jobs pages (GET): the list with its filters and free-text search, numbered
pages, and one record.

A search reads the list newest first, ``PER_PAGE`` matches at a time, at most
``failed_pages.SCAN_BUDGET`` records a page, going on from where the page stopped
(``before``); a filter on queue, class or exception narrows it to the blocks the
failed index names, and a search text that is itself a queue, class or exception
is offered as that filter, counted by the index.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from resqued.fleet import read_fleet
from resqued.resque.failed import FailedJobError, FailedList, FailureFilter, Page
from resqued.web.render import dashboard, page

PER_PAGE = 20
FILTERS = ("queue", "class", "exception", "retried", "worker", "q")
NEAR = 2  # page numbers shown each side of the current one


def failure_filter(params: dict[str, str]) -> FailureFilter:
    """The filter named by a query string or a form: empty fields match everything."""
    retried = params.get("retried") or ""
    return FailureFilter(
        queue=params.get("queue") or None,
        class_name=params.get("class") or None,
        exception=params.get("exception") or None,
        retried={"yes": True, "no": False}.get(retried),
        text=(params.get("q") or "").strip() or None,
        worker=params.get("worker") or None,
    )


def number(value: str | None) -> int | None:
    """A whole number >= 0 from the query string, or None (absent or not a number)."""
    value = (value or "").strip()
    return int(value) if value.isdigit() and len(value) < 19 else None


def page_numbers(current: int, pages: int) -> list[int | None]:
    """``1 … 4 5 [6] 7 8 … 20``: None stands for a gap."""
    shown = sorted(
        {1, pages, *range(current - NEAR, current + NEAR + 1)} & set(range(1, pages + 1))
    )
    out: list[int | None] = []
    for n in shown:
        if out and n - (out[-1] or 0) > 1:
            out.append(None)
        out.append(n)
    return out


def suggestions(failed: FailedList, where: FailureFilter) -> list[tuple[str, str, int]]:
    """The search text as a queue, class or exception the index knows: (field, value,
    matches), each counted by the index (a few commands each, whatever the list's size)."""
    text = where.text
    if not text or where != FailureFilter(text=text) or not failed.index.exists():
        return []  # no index yet: a search does not build one (a filter does)
    out = []
    for field, where_text in (
        ("queue", FailureFilter(queue=text)),
        ("class", FailureFilter(class_name=text)),
        ("exception", FailureFilter(exception=text)),
    ):
        n = failed.matching(where_text)
        if n:
            out.append((field, text, n))
    return out


def failed(request: Request) -> Response:
    dash = dashboard(request)
    params = dict(request.query_params)
    where = failure_filter(params)
    before = number(params.get("before"))
    wanted = number(params.get("page"))
    start = (wanted - 1) * PER_PAGE if wanted else number(params.get("start")) or 0
    failed_list = FailedList(dash.store)
    listing = failed_list.list(where, start, PER_PAGE, before)
    fleet = read_fleet(dash.store, recent_failures=0)
    pages = max(1, math.ceil(listing.total / PER_PAGE)) if listing.exact else 0
    current = start // PER_PAGE + 1
    return page(
        request,
        "failed.html",
        fleet=fleet,
        listing=listing,
        where=where,
        params={k: params.get(k, "") for k in FILTERS},
        query=query_of(params),
        per_page=PER_PAGE,
        before=before,
        pages=pages,
        current=current,
        numbers=page_numbers(current, pages) if pages > 1 else [],
        past_end=_past_end(listing),
        suggestions=suggestions(failed_list, where),
    )


def _past_end(listing: Page) -> bool:
    return listing.exact and not listing.jobs and listing.start > 0 and listing.total > 0


def query_of(params: dict[str, str], **more: Any) -> str:
    """The filter's query string (``&queue=x&class=``...), for links that keep it."""
    kept = {k: params.get(k, "") for k in FILTERS if params.get(k)}
    kept.update({k: str(v) for k, v in more.items()})
    return urlencode(kept)


def failed_job(request: Request) -> Response:
    dash = dashboard(request)
    index = int(request.path_params["index"])
    try:
        job = FailedList(dash.store).get(index)
    except FailedJobError as exc:
        return page(request, "missing.html", 404, what=str(exc), live=False)
    changed = request.query_params.get("digest") not in (None, job.digest)
    # Not refreshed live: the list's numbers move, so #index may become another record.
    return page(request, "failed_job.html", job=job, changed=changed, live=False)
