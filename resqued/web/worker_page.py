"""One worker's page (GET): what it runs now, its history (jobs done, its failures, the
replacements of its slot and why), and the button that stops its job.

It reads that worker's keys, the masters (one MGET per 256) and the newest
``RECENT`` records of the failed list: a few round trips whatever the fleet's size.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from resqued.fleet.read import read_worker
from resqued.resque.failed import FailedList
from resqued.web.render import Head, dashboard, page

RECENT = 200  # newest failed records looked through for this worker's failures
SHOWN = 10  # of its failures shown


def worker(request: Request) -> Response:
    store = dashboard(request).store
    wid = request.path_params["worker_id"]
    w, master, now = read_worker(store, wid)
    head = Head.read(store)
    if w is None:
        return page(request, "missing.html", 404, what=f"worker {wid}", head=head)
    failures = [j for j in FailedList(store).recent(RECENT) if j.worker == wid][:SHOWN]
    queues = ",".join(w.queues)
    replaced = [r for r in master.recent_replacements if r.queues == queues] if master else []
    stoppable = w.job is not None and master is not None and w.thread is None
    return page(
        request,
        "worker.html",
        head=head,
        w=w,
        master=master,
        now=now,
        failures=failures,
        recent=RECENT,
        replaced=replaced[::-1],
        stoppable=stoppable,
    )
