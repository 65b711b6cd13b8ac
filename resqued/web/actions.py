"""The dashboard's actions (POST, origin- and CSRF-checked here): retry, remove, pause,
resume, queue changes, stopping a job, logging in and out."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from resqued.errors import ResquedError
from resqued.fleet import control
from resqued.fleet.masters import master_key
from resqued.fleet.parse import job_document, parse_time, split_worker_id, text
from resqued.fleet.read import read_worker
from resqued.resque.failed import FailedList
from resqued.resque.failed_confirmed import Confirmed, ConfirmedChange
from resqued.resque.queue_jobs import clear_confirmed, drop_confirmed, remove_job
from resqued.web import scheduling
from resqued.web.failed_page import failure_filter
from resqued.web.render import back, dashboard, page, set_cookie
from resqued.web.security import CSRF_FIELD, SESSION_COOKIE, safe_next


async def form_of(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _int(form: dict[str, str], name: str, what: str) -> int:
    try:
        return int(form.get(name, ""))
    except ValueError:
        raise ResquedError(f"not {what}: {form.get(name, '')[:40]!r}") from None


def retry_one(request: Request, form: dict[str, str]) -> Response:
    index = _int(form, "index", "a failed job index")
    FailedList(dashboard(request).store).retry(index, form.get("digest") or None)
    return back(request, form.get("back"), "/failed", f"Retried failed job #{index}.")


def remove_one(request: Request, form: dict[str, str]) -> Response:
    index = _int(form, "index", "a failed job index")
    FailedList(dashboard(request).store).remove(index, form.get("digest") or None)
    return back(request, form.get("back"), "/failed", f"Removed failed job #{index}.")


def _confirmed(request: Request, form: dict[str, str]) -> ConfirmedChange:
    if "upto" not in form or "tail" not in form:
        raise ResquedError("changing many failed jobs needs its confirmation page: look again")
    seen = Confirmed(_int(form, "upto", "a count"), form.get("tail", ""))
    return ConfirmedChange(FailedList(dashboard(request).store), seen)


def retry_matching(request: Request, form: dict[str, str]) -> Response:
    change = _confirmed(request, form)
    n = change.retry(failure_filter(form))
    text_ = f"Retried {n} failed job(s) of the {change.seen.upto} confirmed."
    return back(request, form.get("back"), "/failed", text_)


def remove_matching(request: Request, form: dict[str, str]) -> Response:
    change = _confirmed(request, form)
    n = change.remove(failure_filter(form))
    text_ = f"Removed {n} failed job(s) of the {change.seen.upto} confirmed."
    return back(request, form.get("back"), "/failed", text_)


def _live_master(request: Request, form: dict[str, str]) -> str:
    store = dashboard(request).store
    mid = form.get("master", "")
    if not mid or not store.redis.exists(master_key(store.keys, mid)):
        raise ResquedError(f"no live master {mid!r}")
    return mid


def pause_master(request: Request, form: dict[str, str]) -> Response:
    mid = _live_master(request, form)
    store = dashboard(request).store
    store.redis.set(store.keys.master_pause(mid), "true")
    return back(request, form.get("back"), "/hosts", f"Paused the workers of master {mid}.")


def resume_master(request: Request, form: dict[str, str]) -> Response:
    mid = _live_master(request, form)
    store = dashboard(request).store
    store.redis.delete(store.keys.master_pause(mid))
    return back(request, form.get("back"), "/hosts", f"Resumed the workers of master {mid}.")


def pause_all(request: Request, form: dict[str, str]) -> Response:
    store = dashboard(request).store
    store.redis.set(store.keys.pause, "true")
    return back(request, form.get("back"), "/hosts", "Paused every worker (pause-all-workers).")


def resume_all(request: Request, form: dict[str, str]) -> Response:
    store = dashboard(request).store
    store.redis.delete(store.keys.pause)
    text_ = "Resumed every worker (pause-all-workers cleared)."
    return back(request, form.get("back"), "/hosts", text_)


def drop_queue(request: Request, form: dict[str, str]) -> Response:
    name = form.get("queue", "")
    if "last" not in form:
        raise ResquedError("removing a queue needs its confirmation page: look again")
    n = drop_confirmed(dashboard(request).store, name, form.get("last", ""))
    return back(request, "/queues", "/queues", f"Removed queue {name} and its {n} job(s).")


def clear_queue(request: Request, form: dict[str, str]) -> Response:
    name = form.get("queue", "")
    count = _int(form, "n", "a count")
    n = clear_confirmed(dashboard(request).store, name, count, form.get("last", ""))
    text_ = f"Deleted {n} job(s) from queue {name} (of the {count} confirmed)."
    return back(request, form.get("back"), "/queues", text_)


def remove_waiting(request: Request, form: dict[str, str]) -> Response:
    name = form.get("queue", "")
    position = _int(form, "position", "a position")
    remove_job(dashboard(request).store, name, position, form.get("digest", ""))
    return back(request, form.get("back"), "/queues", f"Deleted a job from queue {name}.")


def stop_job(request: Request, form: dict[str, str]) -> Response:
    """Ask the worker's master to send it USR1, if it still runs the job shown."""
    store = dashboard(request).store
    wid = form.get("worker", "")
    raw = store.redis.get(store.keys.worker(wid))
    doc = job_document(raw.encode() if isinstance(raw, str) else raw)
    shown = parse_time(form.get("run_at"))
    run_at = text(doc.get("run_at")) if doc else ""
    if doc is None or shown is None or parse_time(run_at) != shown:
        raise ResquedError(f"worker {wid} no longer runs the job shown: look again")
    _, pid, _, thread = split_worker_id(wid)
    worker, master, _ = read_worker(store, wid)
    if worker is None or master is None or pid is None or thread is not None:
        raise ResquedError(f"worker {wid} is not a worker of a live resqued master")
    control.ask(store, master.id, control.StopJob(wid, pid, run_at))
    text_ = f"Asked master {master.id} to stop the job of worker {pid} (USR1 within seconds)."
    return back(request, form.get("back"), "/workers", text_)


def login(request: Request, form: dict[str, str]) -> Response:
    guard = dashboard(request).guard
    target = safe_next(form.get("next"))
    if guard.token is None:
        return RedirectResponse(target, status_code=303)
    client = guard.arrival(request).client
    wait = guard.throttle.wait(client)
    if wait > 0:
        return page(request, "login.html", 429, next=target, failed=False, wait=wait, head=None)
    if not guard.token_matches(form.get("token", "")):
        guard.throttle.failed(client)
        return page(request, "login.html", 401, next=target, failed=True, wait=0, head=None)
    guard.throttle.succeeded(client)
    old = request.cookies.get(SESSION_COOKIE, "")
    if old:
        guard.sessions.end(old)
    response = RedirectResponse(target, status_code=303)
    set_cookie(request, response, SESSION_COOKIE, guard.sessions.create())
    return response


def logout(request: Request, form: dict[str, str]) -> Response:
    guard = dashboard(request).guard
    guard.sessions.end(request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


ACTIONS = {
    "/failed/retry-one": retry_one,
    "/failed/remove-one": remove_one,
    "/failed/retry": retry_matching,
    "/failed/remove": remove_matching,
    "/masters/pause": pause_master,
    "/masters/resume": resume_master,
    "/pause-all": pause_all,
    "/resume-all": resume_all,
    "/queues/remove": drop_queue,
    "/queues/clear": clear_queue,
    "/queues/job/remove": remove_waiting,
    "/workers/stop-job": stop_job,
    "/login": login,
    "/logout": logout,
    **scheduling.ACTIONS,  # the Delayed and Schedule tabs
}


async def dispatch(request: Request) -> Response:
    """Every POST: parse the form, check origin and CSRF, run the action; errors become
    notices."""
    action = ACTIONS[request.url.path]
    form = await form_of(request)
    why = dashboard(request).guard.post_refusal(request, form.get(CSRF_FIELD, ""))
    if why:
        return PlainTextResponse(why, 403)
    try:
        return await run_in_threadpool(action, request, form)
    except ResquedError as exc:
        return back(request, form.get("back"), "/", str(exc), error=True)
