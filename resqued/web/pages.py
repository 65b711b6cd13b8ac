"""The dashboard's fleet pages (GET): overview, hosts, workers, queues, and its JSON."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from resqued.fleet import fleet_dict, read_fleet
from resqued.fleet.model import WORKER_STATES
from resqued.web import chart
from resqued.web.render import dashboard, page


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
    return page(
        request,
        "overview.html",
        fleet=fleet,
        working=working,
        chart=graph,
        top=top,
        sample=f"{dash.sample_interval:g}",
    )


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


def queues(request: Request) -> Response:
    fleet = read_fleet(dashboard(request).store, recent_failures=0)
    top = max((q.depth for q in fleet.queues), default=0)
    return page(request, "queues.html", fleet=fleet, top=top)


def fleet_json(request: Request) -> Response:
    """The same document as ``resqued status --json``."""
    return JSONResponse(fleet_dict(read_fleet(dashboard(request).store)))
