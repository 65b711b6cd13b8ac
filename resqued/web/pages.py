"""The dashboard's pages (GET): overview, hosts, workers, queues, failed jobs, one job."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from resqued.fleet import fleet_dict, read_fleet
from resqued.fleet.model import WORKER_STATES
from resqued.resque.failed import FailedJobError, FailedList, FailureFilter
from resqued.web import chart
from resqued.web.render import dashboard, page

PER_PAGE = 20


def overview(request: Request) -> Response:
    dash = dashboard(request)
    fleet = read_fleet(dash.store, recent_failures=5)
    with dash.lock:
        rates = dash.sampler.rates()
        first = dash.sampler.samples[0].at if dash.sampler.samples else fleet.taken_at
    # The x axis grows from one minute to the sampler's window as samples accumulate.
    span = min(dash.sampler.window, max(60.0, fleet.taken_at - first))
    working = [w for w in fleet.workers if w.job is not None]
    working.sort(key=lambda w: -(w.job.seconds or 0) if w.job else 0)
    graph = chart.build(rates, fleet.taken_at, span)
    top = max((q.depth for q in fleet.queues), default=0)
    return page(request, "overview.html", fleet=fleet, working=working, chart=graph, top=top)


def hosts(request: Request) -> Response:
    fleet = read_fleet(dashboard(request).store, recent_failures=0)
    return page(request, "hosts.html", fleet=fleet)


def workers(request: Request) -> Response:
    fleet = read_fleet(dashboard(request).store, recent_failures=0)
    state = request.query_params.get("state") or ""
    shown = [w for w in fleet.workers if not state or w.state == state]
    return page(
        request, "workers.html", fleet=fleet, shown=shown, state=state, states=WORKER_STATES
    )


def worker(request: Request) -> Response:
    wid = request.path_params["worker_id"]
    fleet = read_fleet(dashboard(request).store, recent_failures=0)
    found = fleet.worker(wid)
    if found is None:
        return page(request, "missing.html", 404, what=f"worker {wid}", fleet=fleet)
    return page(request, "worker.html", fleet=fleet, w=found)


def queues(request: Request) -> Response:
    fleet = read_fleet(dashboard(request).store, recent_failures=0)
    top = max((q.depth for q in fleet.queues), default=0)
    return page(request, "queues.html", fleet=fleet, top=top)


def failure_filter(params: dict[str, str]) -> FailureFilter:
    """The filter named by a query string or a form: empty fields match everything."""
    retried = params.get("retried") or ""
    return FailureFilter(
        queue=params.get("queue") or None,
        class_name=params.get("class") or None,
        exception=params.get("exception") or None,
        retried={"yes": True, "no": False}.get(retried),
    )


def failed(request: Request) -> Response:
    dash = dashboard(request)
    params = dict(request.query_params)
    where = failure_filter(params)
    start = _number(params.get("start")) or 0
    before = _number(params.get("before"))
    listing = FailedList(dash.store).list(where, start, PER_PAGE, before)
    fleet = read_fleet(dash.store, recent_failures=0)
    return page(
        request,
        "failed.html",
        fleet=fleet,
        listing=listing,
        where=where,
        params={k: params.get(k, "") for k in ("queue", "class", "exception", "retried")},
        per_page=PER_PAGE,
        before=before,
    )


def _number(value: str | None) -> int | None:
    """A whole number >= 0 from the query string, or None (absent or not a number)."""
    return int(value) if value and value.isdigit() else None


def failed_job(request: Request) -> Response:
    dash = dashboard(request)
    index = int(request.path_params["index"])
    fleet = read_fleet(dash.store, recent_failures=0)
    try:
        job = FailedList(dash.store).get(index)
    except FailedJobError as exc:
        return page(request, "missing.html", 404, what=str(exc), fleet=fleet)
    changed = request.query_params.get("digest") not in (None, job.digest)
    return page(request, "failed_job.html", fleet=fleet, job=job, changed=changed)


def fleet_json(request: Request) -> Response:
    """The same document as ``resqued status --json``."""
    return JSONResponse(fleet_dict(read_fleet(dashboard(request).store)))
