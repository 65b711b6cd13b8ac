"""The dashboard's views in a real headless Chromium: a queue's jobs, failed search and pages,
confirmations that work without JavaScript and act on what they showed, a worker's
history and stop button, the Redis page, the chart's legend, a live refresh that keeps
a selection, and every page inert on stored XSS payloads."""

from __future__ import annotations

import json
import os
import time
from urllib.parse import quote

import pytest
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from support import ROOT
from support.browser import console_errors, local_dashboard
from support.fleet import push_failures, register_master, register_worker, ruby_failure
from support.jobs import push
from support.procs import wait_for

from resqued.fleet.control import StopJob, control_key
from resqued.resque import times
from resqued.resque.keys import Keys

SCREENSHOT_ENV = "RESQUED_DOCS_SCREENSHOT"  # set to 1 to refresh the docs' screenshots


@pytest.fixture
def dashboard(redis_url, tmp_path, browser):
    with local_dashboard(redis_url, tmp_path / "web.log") as base:
        browser.delete_all_cookies()
        yield base


def main_text(browser) -> str:
    """<main>'s text ('' while the page is being replaced)."""
    try:
        return browser.find_element("id", "main").text
    except (NoSuchElementException, StaleElementReferenceException):
        return ""


def screenshot(browser, name: str) -> None:
    """docs/<name>.png, when asked for (RESQUED_DOCS_SCREENSHOT=1)."""
    if os.environ.get(SCREENSHOT_ENV):
        browser.set_window_size(1000, 700)
        try:
            browser.save_screenshot(str(ROOT / "docs" / f"{name}.png"))
        finally:
            browser.set_window_size(1280, 1000)


def clean_console(browser, page: str) -> None:
    assert console_errors(browser) == [], f"browser console errors on {page}"


def test_a_queue_page_deletes_one_job_and_clears_what_was_confirmed(browser, dashboard, r):
    for i in range(25):
        push(r, "mail", "Mailer", i, f"user{i}@example.com", enqueued_at=1704110400 + i)
    browser.get(dashboard + "/queues")
    browser.find_element("link text", "mail").click()
    wait_for(lambda: "Showing positions 0–19 of 25." in main_text(browser), 10, "the queue")
    assert '[3, "user3@example.com"]' in main_text(browser)
    screenshot(browser, "dashboard-queue")
    browser.find_element("link text", "2").click()
    wait_for(lambda: "Showing positions 20–24 of 25." in main_text(browser), 10, "page 2")
    row = browser.find_element("xpath", "//tr[td[1][text()='22']]")
    assert "user22@example.com" in row.text
    row.find_element("xpath", ".//button[text()='Delete']").click()
    wait_for(lambda: "Deleted a job from queue mail." in browser.page_source, 10, "the notice")
    assert r.llen("resque:queue:mail") == 24
    assert not any(b"user22@" in x for x in r.lrange("resque:queue:mail", 0, -1))
    # The confirmation is a page of its own: it works with JavaScript off.
    browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
    try:
        browser.refresh()
        assert browser.find_element("id", "no-script").is_displayed()  # scripts are off
        browser.find_element("id", "clear-queue").click()
        wait_for(lambda: browser.find_elements("id", "question"), 10, "the confirmation")
        assert "Delete the 24 jobs waiting on queue mail?" in main_text(browser)
        push(r, "mail", "Mailer", "after the question")
        browser.find_element("id", "confirm").click()
        wait_for(lambda: "Deleted 24 job(s) from queue mail" in browser.page_source, 10, "done")
    finally:
        browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": False})
    assert [json.loads(x)["args"] for x in r.lrange("resque:queue:mail", 0, -1)] == [
        ["after the question"]
    ]
    clean_console(browser, "/queues/mail")


def test_failed_search_pages_and_confirmed_bulk_changes(browser, dashboard, r):
    records = [
        ruby_failure(cls="Mailer" if i % 3 else "Resize", args=[i, f"ticket-{i}"],
                     error="smtp timeout" if i % 3 else "image too large",
                     worker=f"web-{i % 2}:4{i % 2}:mail")
        for i in range(45)
    ]  # fmt: skip
    push_failures(r, *records)
    browser.get(dashboard + "/failed")
    text = main_text(browser)
    assert "ticket-44" in text and "web-0:40:mail" in text and "2024-01-01 12:00:00 UTC" in text
    browser.find_element("link text", "3").click()
    wait_for(lambda: "Showing 41–45 of 45" in main_text(browser), 10, "page 3")
    page = browser.find_element("id", "page-number")
    page.clear()
    page.send_keys("2")
    browser.find_element("id", "jump").click()
    wait_for(lambda: "Showing 21–40 of 45" in main_text(browser), 10, "the jump to page 2")
    browser.get(dashboard + "/failed?page=9")
    assert "Page 9 is past the end: 45 in 3 page(s)." in main_text(browser)
    search = browser.find_element("id", "search")
    search.send_keys("TOO LARGE")
    browser.find_element("id", "filter").click()
    wait_for(lambda: "Showing 1–15 of 15 matching" in main_text(browser), 10, "the search")
    assert "Mailer" not in main_text(browser)
    screenshot(browser, "dashboard-failed-search")
    # Retry the 15 Resize jobs the confirmation showed.
    browser.get(dashboard + "/failed?class=Resize")
    browser.get(dashboard + "/failed?q=Resize")  # the class filter built the index
    assert "“Resize” is a class: 15 failed job(s) with that class" in main_text(browser)
    browser.find_element("link text", "15 failed job(s) with that class").click()
    wait_for(lambda: "Showing 1–15 of 15 matching" in main_text(browser), 10, "the filter")
    browser.find_element("id", "retry-matching").click()
    wait_for(lambda: browser.find_elements("id", "question"), 10, "the confirmation")
    assert "Retry the 15 failed jobs matching this filter" in main_text(browser)
    push_failures(r, ruby_failure(cls="Resize", queue="late"))
    browser.find_element("id", "confirm").click()
    wait_for(lambda: "Retried 15 failed job(s) of the 45 confirmed." in browser.page_source, 10, "")
    assert r.llen("resque:queue:high") == 15 and not r.exists("resque:queue:late")
    # Clear all: the record that arrives after the question stays.
    browser.get(dashboard + "/failed")
    browser.find_element("id", "remove-matching").click()
    wait_for(lambda: browser.find_elements("id", "question"), 10, "the confirmation")
    assert "Clear all 46 failed jobs" in main_text(browser)
    push_failures(r, ruby_failure(cls="Newest"))
    browser.find_element("id", "confirm").click()
    wait_for(lambda: "Removed 46 failed job(s) of the 46 confirmed." in browser.page_source, 10, "")
    assert [json.loads(x)["payload"]["class"] for x in r.lrange("resque:failed", 0, -1)] == [
        "Newest"
    ]
    clean_console(browser, "/failed")


def test_a_worker_page_shows_its_history_and_asks_to_stop_its_job(browser, dashboard, r):
    now = time.time()
    run_at = times.run_at(now - 42)
    wid = register_worker(
        r, "web-1:4242:mail", processed=120, failed=3, queue="mail", run_at=run_at,
        job={"class": "Mailer", "args": [7, "weekly digest"]}, started=times.started(now - 7260),
        heartbeat=times.heartbeat(now - 3),
    )  # fmt: skip
    register_master(
        r,
        "web-1",
        4000,
        workers={"configured": 2, "running": 2, "pids": [4242]},
        replacements={"killed by SIGKILL": 1, "recycled after 500 jobs": 2},
        replaced_recently=[
            {"at": now - 7260, "pid": 4100, "queues": "mail", "reason": "recycled after 500 jobs"},
            {"at": now - 5400, "pid": 4101, "queues": "mail", "reason": "killed by SIGKILL"},
        ],
    )
    push_failures(r, ruby_failure(cls="Mailer", worker=wid, error="smtp refused"))
    browser.get(dashboard + "/workers")
    browser.find_element("link text", "4242").click()
    wait_for(lambda: "History" in main_text(browser), 10, "the worker page")
    text = main_text(browser)
    assert "jobs done\n120" in text and "smtp refused" in text and "killed by SIGKILL" in text
    assert "4101" in text and "weekly digest" in text
    screenshot(browser, "dashboard-worker")
    browser.find_element("id", "stop-job").click()
    browser.switch_to.alert.accept()
    wait_for(lambda: "Asked master web-1:4000 to stop" in browser.page_source, 10, "the notice")
    [raw] = r.lrange(control_key(Keys(), "web-1:4000"), 0, -1)
    assert StopJob.decode(raw) == StopJob(wid, 4242, run_at)
    clean_console(browser, "/workers/<id>")


def test_the_redis_page(browser, dashboard, r):
    for i in range(80):
        r.set(f"resque:stat:processed:web-{i}:1:q", i)
    push(r, "mail", "Mailer", 1)
    browser.get(dashboard + "/")
    browser.find_element("link text", "Redis").click()
    wait_for(lambda: "Keys under" in main_text(browser), 10, "the Redis page")
    text = main_text(browser)
    assert "redis_version" in text and "used_memory_human" in text and "connected_clients" in text
    screenshot(browser, "dashboard-redis")
    shown = [text]
    browser.find_element("id", "next-keys").click()
    wait_for(lambda: "first page" in main_text(browser), 10, "the next page of keys")
    shown.append(main_text(browser))
    while browser.find_elements("id", "next-keys"):
        browser.find_element("id", "next-keys").click()
        shown.append(main_text(browser))
        assert len(shown) < 10
    everything = "\n".join(shown)
    assert "resque:queue:mail list 1" in everything
    assert len({x for x in everything.split() if x.startswith("resque:stat:processed:")}) == 80
    clean_console(browser, "/redis")


def test_the_legend_the_selection_and_pages_that_do_not_refresh(browser, dashboard, r):
    push_failures(r, ruby_failure())
    browser.get(dashboard + "/")
    wait_for(lambda: "average" in browser.find_element("id", "legend").text, 10, "the legend")
    legend = browser.find_element("id", "legend").text
    assert "processed: now" in legend and "peak" in legend and "failed (dashed" in legend
    # The failed line is dashed and drawn over the processed one (equal rates show both).
    lines = wait_for(
        lambda: browser.execute_script(
            "var ls = document.querySelectorAll('#rate-chart polyline');"
            "if (ls.length < 2) { return null; }"
            "return Array.prototype.map.call(ls, function (l) { var s = getComputedStyle(l);"
            "  return [l.getAttribute('class'), s.strokeDasharray, parseFloat(s.strokeWidth)]; });"
        ),
        15,
        "the chart's lines",
    )
    (processed, _, wide), (failed, dashes, narrow) = lines
    assert (processed, failed) == ("processed", "failed") and dashes not in ("none", "")
    assert wide > narrow
    # A selection in <main> holds the live refresh until it is let go.
    browser.get(dashboard + "/queues")
    browser.execute_script(
        "var r = document.createRange(); r.selectNodeContents(document.getElementById('main'));"
        "window.getSelection().removeAllRanges(); window.getSelection().addRange(r);"
    )
    push(r, "fresh", "Archive", 1)
    stamp = browser.find_element("id", "stamp")
    wait_for(lambda: "paused while text is selected" in stamp.text, 10, "the refresh to wait")
    assert "fresh" not in main_text(browser)
    assert browser.execute_script("return window.getSelection().toString().length") > 0
    browser.execute_script("window.getSelection().removeAllRanges();")
    wait_for(lambda: "fresh" in main_text(browser), 10, "the refresh once let go")
    # One failed job's page is not refreshed: its number may become another record.
    browser.get(dashboard + "/failed/0")
    assert browser.find_element("tag name", "body").get_attribute("data-refresh") == "0"
    assert not browser.find_elements("id", "live")
    assert browser.find_element("id", "stamp").text == "not refreshed live"
    clean_console(browser, "/failed/0")


# -- stored XSS ---------------------------------------------------------------------------

PAYLOADS = [
    "<script data-xss>window.__xss=1</script>",
    "<img src=x data-xss onerror=alert(1)>",
    '"><img src=x data-xss onerror=alert(2)>',
    "'><img src=x data-xss onerror=alert(3)>",
    "<svg data-xss onload=alert(4)>",
    "</code><b data-xss>b</b>",
    "</pre><i data-xss>i</i>",
    "</textarea><u data-xss>u</u>",
    "</title><s data-xss>s</s>",
    "<iframe data-xss src=javascript:alert(5)></iframe>",
    '<a data-xss href="javascript:alert(6)">a</a>',
    "<math><mi data-xss>m</mi></math>",
    "<details data-xss open ontoggle=alert(7)>",
    "<input data-xss autofocus onfocus=alert(8)>",
    "<body data-xss onload=alert(9)>",
    "<style data-xss>*{color:red}</style>",
    "--><b data-xss>c</b>",
    "<object data-xss data=javascript:alert(10)></object>",
    "<form data-xss action=//evil.example><button>f</button></form>",
    '<meta data-xss http-equiv=refresh content="0;url=//evil.example">',
    "{{7*7}}${7*7}<b data-xss>t</b>",
]


def plant_payloads(r) -> tuple[str, str]:
    """Every field the pages show, from Redis, holding one of the payloads."""
    r.config_set("slowlog-log-slower-than", 0)  # the slow log shows their commands too
    try:
        for i, p in enumerate(PAYLOADS):
            push(r, f"q{i}{p}", p, p, {"k": p})
            register_worker(r, f"h{i}{p}:{500 + i}:q{i}{p}", job={"class": p, "args": [p]},
                            queue=p, run_at="2024-01-01T12:00:00Z")  # fmt: skip
            push_failures(
                r,
                ruby_failure(
                    cls=p,
                    queue=p,
                    exception=p,
                    error=p,
                    worker=p,
                    args=[p],
                    failed_at=p,
                    backtrace=[p],
                ),  # fmt: skip
            )
        register_master(
            r,
            "host" + PAYLOADS[2],
            4000,
            config=PAYLOADS,
            workers={"configured": 1, "running": 1, "pids": [500]},
            last_reload={"at": 1704110400, "outcome": "failed", "error": PAYLOADS[1]},
            replacements={p: 1 for p in PAYLOADS},
            replaced_recently=[
                {"at": 1, "pid": 500, "queues": f"q0{PAYLOADS[0]}", "reason": p} for p in PAYLOADS
            ],
        )
    finally:
        r.config_set("slowlog-log-slower-than", 10000)
    return f"h0{PAYLOADS[0]}:500:q0{PAYLOADS[0]}", f"q3{PAYLOADS[3]}"


def plant_delayed_payloads(r) -> None:
    """Delayed jobs, a dynamic schedule and past runs whose every string is a payload."""
    for n, p in enumerate(PAYLOADS):
        item = json.dumps({"class": p, "args": [p], "queue": p}).encode()
        r.rpush("resque:delayed:2000000000", item)
        r.sadd(b"resque:timestamps:" + item, "resque:delayed:2000000000")
        r.hset("resque:delayed:last_enqueued_at", p, p)
        config = {"every": "1m", "class": p, "queue": p, "args": [p], "description": p}
        r.hset("resque:persistent_schedules", f"s{n}{p}", json.dumps(config))
    r.zadd("resque:delayed_queue_schedule", {"2000000000": 2000000000})
    r.set("resque:resque:resque_scheduler_master_lock", PAYLOADS[0], ex=100)


def test_every_page_is_inert_on_stored_xss(browser, dashboard, r):
    worker, queue = plant_payloads(r)
    plant_delayed_payloads(r)
    pages = [
        "/", "/hosts", "/workers", "/workers/" + quote(worker, safe=""), "/queues",
        "/queues/" + quote(queue, safe=""), "/failed", "/failed/0", "/failed/20",
        "/failed?q=" + quote(PAYLOADS[2]) + "&worker=" + quote(PAYLOADS[3]), "/redis",
        "/confirm?do=queue-clear&queue=" + quote(queue),
        "/confirm?do=failed-remove&q=" + quote(PAYLOADS[1]),
        "/login?next=" + quote("/" + PAYLOADS[2]),
        "/delayed", "/delayed/2000000000", "/schedule",
    ]  # fmt: skip
    for page in pages:
        browser.get(dashboard + page)
        assert (
            browser.execute_script("return document.querySelectorAll('[data-xss]').length") == 0
        ), page
        assert browser.execute_script("return window.__xss === undefined"), page
        assert "data-xss" in browser.page_source, page  # there, as text or an attribute's value
        clean_console(browser, page)
    # A notice (a cookie, shown once) with a payload in it.
    browser.get(dashboard + "/queues/" + quote(queue, safe=""))
    browser.find_element("id", "remove-queue").click()
    wait_for(lambda: browser.find_elements("id", "confirm"), 10, "the confirmation")
    browser.find_element("id", "confirm").click()
    wait_for(lambda: "Removed queue q3" in browser.page_source, 10, "the notice")
    assert browser.execute_script("return document.querySelectorAll('[data-xss]').length") == 0
