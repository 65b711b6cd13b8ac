"""The dashboard's Delayed and Schedule tabs, as resque-scheduler's resque-web tabs: the
delayed queue by second (one second's jobs, each queued now or removed) and the
recurring schedules with their last and next run (each queued now).

The schedule file is the one ``$RESQUED_SCHEDULE`` names (the dashboard does not
know the mover's), merged with the dynamic schedules; the actions are POSTs checked
by the dashboard's CSRF guard like every other (``actions.py`` routes them here).
"""

from __future__ import annotations

import os

from starlette.requests import Request
from starlette.responses import Response

from resqued.errors import ResquedError
from resqued.fleet import read_fleet
from resqued.resque.delayed_admin import DelayedAdmin, digest
from resqued.scheduler import overview
from resqued.web.render import back, dashboard, page

PER_PAGE = 50
SCHEDULE_ENV = "RESQUED_SCHEDULE"


def schedule_file() -> str | None:
    return os.environ.get(SCHEDULE_ENV) or None


def environment() -> str | None:
    return os.environ.get("RAILS_ENV") or os.environ.get("RACK_ENV") or None


def _number(value: str | None, what: str) -> int:
    if value is None or not value.isdigit():
        raise ResquedError(f"not {what}: {value!r}")
    return int(value)


def delayed(request: Request) -> Response:
    store = dashboard(request).store
    fleet = read_fleet(store, recent_failures=0)
    start = request.query_params.get("start", "0")
    first = int(start) if start.isdigit() else 0
    seconds, total = DelayedAdmin(store).seconds(first, PER_PAGE)
    return page(
        request,
        "delayed.html",
        fleet=fleet,
        seconds=seconds,
        total=total,
        start=first,
        per_page=PER_PAGE,
    )


def delayed_second(request: Request) -> Response:
    store = dashboard(request).store
    fleet = read_fleet(store, recent_failures=0)
    epoch = int(request.path_params["epoch"])
    raw = DelayedAdmin(store).delayed.jobs_at(epoch, 0, 500)
    jobs = [(i, digest(item), item.decode("utf-8", "replace")) for i, item in enumerate(raw)]
    return page(request, "delayed_second.html", fleet=fleet, epoch=epoch, jobs=jobs)


def schedule(request: Request) -> Response:
    store = dashboard(request).store
    fleet = read_fleet(store, recent_failures=0)
    error = None
    try:
        rows = overview.rows(store, schedule_file(), environment(), fleet.taken_at)
    except ResquedError as exc:  # a bad file: say so, show what Redis holds
        error = str(exc)
        rows = overview.rows(store, None, environment(), fleet.taken_at)
    return page(request, "schedule.html", fleet=fleet, rows=rows, error=error, file=schedule_file())


# -- actions (POST; routed and CSRF-checked by actions.dispatch) ----------------------------


def enqueue_now(request: Request, form: dict[str, str]) -> Response:
    admin = DelayedAdmin(dashboard(request).store)
    epoch = _number(form.get("epoch"), "a time in epoch seconds")
    if not form.get("index"):
        n = admin.enqueue_second_now(epoch)
        return back(request, "/delayed", "/delayed", f"Queued the {n} job(s) due at {epoch} now.")
    index = _number(form.get("index"), "a delayed job's number")
    n = admin.enqueue_now(epoch, index, form.get("digest") or None)
    return back(request, form.get("back"), "/delayed", f"Queued {n} delayed job(s) now.")


def remove(request: Request, form: dict[str, str]) -> Response:
    admin = DelayedAdmin(dashboard(request).store)
    epoch = _number(form.get("epoch"), "a time in epoch seconds")
    index = _number(form.get("index"), "a delayed job's number")
    n = admin.remove(epoch, index, form.get("digest") or None)
    return back(request, form.get("back"), "/delayed", f"Removed {n} delayed job(s).")


def run_schedule(request: Request, form: dict[str, str]) -> Response:
    name = form.get("name", "")
    entry = overview.run_now(dashboard(request).store, schedule_file(), environment(), name)
    return back(
        request, "/schedule", "/schedule", f"Queued {entry.class_name} on {entry.queue} now."
    )


ACTIONS = {
    "/delayed/enqueue-now": enqueue_now,
    "/delayed/remove": remove,
    "/schedule/run": run_schedule,
}
