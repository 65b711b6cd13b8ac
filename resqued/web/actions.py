"""The dashboard's actions (POST, CSRF-checked by the app): retry, remove, pause, resume."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from resqued.errors import ResquedError
from resqued.fleet.masters import master_key
from resqued.resque.failed import FailedList
from resqued.resque.queue_admin import remove_queue
from resqued.web import scheduling
from resqued.web.pages import failure_filter
from resqued.web.render import back, dashboard, page
from resqued.web.security import CSRF_FIELD, SESSION_COOKIE, safe_next


async def form_of(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _index(form: dict[str, str]) -> int:
    try:
        return int(form.get("index", ""))
    except ValueError:
        raise ResquedError(f"not a failed job index: {form.get('index', '')!r}") from None


def retry_one(request: Request, form: dict[str, str]) -> Response:
    index = _index(form)
    FailedList(dashboard(request).store).retry(index, form.get("digest") or None)
    return back(form.get("back"), "/failed", f"Retried failed job #{index}.")


def remove_one(request: Request, form: dict[str, str]) -> Response:
    index = _index(form)
    FailedList(dashboard(request).store).remove(index, form.get("digest") or None)
    return back(form.get("back"), "/failed", f"Removed failed job #{index}.")


def retry_matching(request: Request, form: dict[str, str]) -> Response:
    n = FailedList(dashboard(request).store).retry_matching(failure_filter(form))
    return back(form.get("back"), "/failed", f"Retried {n} failed job(s).")


def remove_matching(request: Request, form: dict[str, str]) -> Response:
    n = FailedList(dashboard(request).store).remove_matching(failure_filter(form))
    return back("/failed", "/failed", f"Removed {n} failed job(s).")


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
    return back(form.get("back"), "/hosts", f"Paused the workers of master {mid}.")


def resume_master(request: Request, form: dict[str, str]) -> Response:
    mid = _live_master(request, form)
    store = dashboard(request).store
    store.redis.delete(store.keys.master_pause(mid))
    return back(form.get("back"), "/hosts", f"Resumed the workers of master {mid}.")


def pause_all(request: Request, form: dict[str, str]) -> Response:
    store = dashboard(request).store
    store.redis.set(store.keys.pause, "true")
    return back(form.get("back"), "/hosts", "Paused every worker (pause-all-workers).")


def resume_all(request: Request, form: dict[str, str]) -> Response:
    store = dashboard(request).store
    store.redis.delete(store.keys.pause)
    return back(form.get("back"), "/hosts", "Resumed every worker (pause-all-workers cleared).")


def drop_queue(request: Request, form: dict[str, str]) -> Response:
    name = form.get("queue", "")
    n = remove_queue(dashboard(request).store, name)
    return back("/queues", "/queues", f"Removed queue {name} and its {n} job(s).")


def login(request: Request, form: dict[str, str]) -> Response:
    guard = dashboard(request).guard
    target = safe_next(form.get("next"))
    if not guard.token_matches(form.get("token", "")):
        return page(request, "login.html", 401, next=target, failed=True)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, guard.session_value, httponly=True, samesite="strict")
    return response


def logout(request: Request, form: dict[str, str]) -> Response:
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
    "/login": login,
    "/logout": logout,
    **scheduling.ACTIONS,  # the Delayed and Schedule tabs
}


async def dispatch(request: Request) -> Response:
    """Every POST: parse the form, check CSRF, run the action; errors become notices."""
    action = ACTIONS[request.url.path]
    form = await form_of(request)
    if not dashboard(request).guard.csrf_ok(request, form.get(CSRF_FIELD, "")):
        return PlainTextResponse(
            "Forbidden: the form's CSRF token is missing or stale; reload the page.", 403
        )
    try:
        return await run_in_threadpool(action, request, form)
    except ResquedError as exc:
        return back(form.get("back"), "/", str(exc), error=True)
