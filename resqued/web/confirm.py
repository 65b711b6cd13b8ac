"""The confirmation page of every change to many jobs: a plain GET page with the question and
a form, so it works without JavaScript, and the form names what was shown (the failed
list's length and newest record, the queue's depth and last job): the change then acts
on those jobs only, never on the ones that arrived after the operator said yes."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from resqued.resque.failed import FailedList
from resqued.resque.failed_confirmed import Confirmed
from resqued.resque.queue_jobs import snapshot
from resqued.web.failed_page import FILTERS, failure_filter
from resqued.web.render import dashboard, page
from resqued.web.security import safe_next


def _plural(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def confirm_page(request: Request) -> Response:
    params = dict(request.query_params)
    do = params.get("do", "")
    store = dashboard(request).store
    fields: list[tuple[str, str]] = []
    if do in ("failed-retry", "failed-remove"):
        where = failure_filter(params)
        seen = Confirmed.take(store)
        if where.empty:
            n: int | None = seen.upto
        elif where.exact_by_index:
            n = FailedList(store).matching(where)
        else:
            n = None
        retry = do == "failed-retry"
        verb = "Retry" if retry else ("Clear" if where.empty else "Remove")
        which = (
            f"all {_plural(seen.upto, 'failed job')}"
            if where.empty
            else (
                f"the {_plural(n, 'failed job')} matching this filter"
                if n is not None
                else "every failed job matching this filter"
            )
        )
        question = f"{verb} {which}, of the {seen.upto} in the failed list now?"
        detail = "Failures recorded after this page was shown are left alone." + (
            "" if retry else " This cannot be undone."
        )
        fields = [(k, params[k]) for k in FILTERS if params.get(k)]
        fields += [("upto", str(seen.upto)), ("tail", seen.tail)]
        action = "/failed/retry" if retry else "/failed/remove"
        button = f"{verb} {n if n is not None else 'them'}"
        back = safe_next(params.get("back"), "/failed")
        nothing = seen.upto == 0 or n == 0
    elif do in ("queue-clear", "queue-remove"):
        name = params.get("queue", "")
        depth, last = snapshot(store, name)
        clear = do == "queue-clear"
        if clear:
            question = f"Delete the {_plural(depth, 'job')} waiting on queue {name}?"
            detail = "Jobs pushed after this page was shown stay. This cannot be undone."
            button = f"Delete {depth}"
        else:
            question = f"Remove queue {name} and the {_plural(depth, 'job')} waiting on it?"
            detail = (
                "As resque-web's Remove: the queue leaves the queue list and its jobs are "
                "deleted; it comes back with the next job pushed to it. If a job is pushed "
                "after this page was shown, nothing is removed. This cannot be undone."
            )
            button = f"Remove queue {name}"
        fields = [("queue", name), ("n", str(depth)), ("last", last)]
        action = "/queues/clear" if clear else "/queues/remove"
        back = safe_next(
            params.get("back"), "/queues/" + quote(name, safe="") if clear else "/queues"
        )
        nothing = clear and depth == 0
    else:
        return page(request, "missing.html", 404, what=f"no such change {do!r}", live=False)
    return page(
        request,
        "confirm.html",
        question=question,
        detail=detail,
        fields=fields,
        action=action,
        button=button,
        back=back,
        nothing=nothing,
        live=False,  # the form names what is shown now: a refresh would change it
    )
