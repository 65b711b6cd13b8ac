"""The dashboard in a real headless Chromium: live pages, retry and pause from the page,
a clean browser console, and the token when bound beyond loopback."""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.error
import urllib.request

import pytest
from support import ROOT
from support.browser import Dashboard, console_errors, free_port, local_dashboard
from support.fleet import (
    push_failures,
    pyres_failure,
    register_master,
    register_worker,
    ruby_failure,
)
from support.jobs import push, worker_id
from support.procs import wait_for

TOKEN = "s3cret-token-for-tests"
SCREENSHOT_ENV = "RESQUED_DOCS_SCREENSHOT"  # set to 1 to refresh docs/dashboard.png


@pytest.fixture
def fleet(r, resqued, app_dir):
    """A real worker, registered under a master document, plus Ruby and pyres workers."""
    proc = resqued("work", "-q", "high,low", "-r", "demo_jobs", "-i", "0.1", cwd=app_dir)
    wid = worker_id(r)
    host, pid = wid.split(":")[0], int(wid.split(":")[1])
    mid = register_master(
        r,
        host,
        os.getpid(),
        ttl=600,
        generation=2,
        workers={"configured": 1, "running": 1, "pids": [pid]},
        replacements={"crashed": 1},
        last_reload={"at": 1704110400, "outcome": "ok", "error": None},
    )
    register_worker(r, "ruby-web-1:77:default", processed=12)
    register_worker(
        r,
        "py-web-2:88:mail",
        started=int(time.time()) - 7200,
        run_at=str(int(time.time()) - 42),
        job={"class": "jobs.Mailer", "args": [1]},
        queue="mail",
        heartbeat=None,
    )
    push_failures(
        r,
        ruby_failure(cls="Archive", queue="archive", error="disk full"),
        ruby_failure(cls="Resize", queue="archive", exception="Timeout::Error"),
        pyres_failure(),
    )
    for i in range(3):
        push(r, "archive", "Archive", i)
    return {"master": mid, "worker": wid, "proc": proc}


@pytest.fixture
def dashboard(redis_url, tmp_path):
    with local_dashboard(redis_url, tmp_path / "web.log") as base:
        yield base


def steady_flow(r, seconds: float) -> None:
    """For the docs screenshot only: a minute of jobs at a varying rate, a few failing."""
    deadline = time.monotonic() + seconds
    tick = 0
    while time.monotonic() < deadline:
        tick += 1
        for i in range(3 + tick % 7):
            push(r, "high", "Record", i)
        if tick % 4 == 0:
            push(r, "low", "Fail", "upstream timed out")
        time.sleep(0.5)  # the producer's pace, not a wait for a condition


def main_text(driver) -> str:
    return driver.find_element("id", "main").text


def assert_clean_console(driver, page: str) -> None:
    assert console_errors(driver) == [], f"browser console errors on {page}"


def test_every_page_renders_live_data(browser, fleet, dashboard, r, tmp_path):
    browser.get(dashboard + "/")
    assert "Jobs per second" in browser.page_source
    # Jobs flow through the real worker: the chart gets lines, the counts move.
    for i in range(30):
        push(r, "high", "Record", i)
    push(r, "low", "Fail", "boom")
    if os.environ.get(SCREENSHOT_ENV):
        steady_flow(r, seconds=60)
    wait_for(lambda: int(r.get("resque:stat:processed") or 0) >= 31, 30, "jobs processed")
    wait_for(
        lambda: browser.find_elements("css selector", "#rate-chart polyline.processed"),
        30,
        "the jobs/s chart to draw",
    )
    # Live refresh replaces <main> without reloading the page.
    browser.execute_script("window.resquedMarker = 'same page';")
    push(r, "fresh", "Archive", 1)
    wait_for(lambda: "fresh" in main_text(browser), 15, "the new queue on the overview")
    assert browser.execute_script("return window.resquedMarker") == "same page"
    assert "updated" in browser.find_element("id", "stamp").text
    text = main_text(browser)
    assert "archive" in text and "jobs.Mailer" in text  # queues; the pyres worker is working
    shot = tmp_path / "dashboard.png"
    browser.save_screenshot(str(shot))
    if os.environ.get(SCREENSHOT_ENV):
        shutil.copy(shot, ROOT / "docs" / "dashboard.png")
    assert_clean_console(browser, "/")

    browser.get(dashboard + "/hosts")
    text = main_text(browser)
    host, pid = fleet["worker"].split(":")[:2]
    assert fleet["master"].split(":")[0] in text and "generation 2" in text
    assert "replaced crashed 1" in text.replace("\n", " ")
    assert "ruby-web-1" in text and "py-web-2" in text
    assert browser.find_element("css selector", f"[id='master-{fleet['master']}'] table").text
    assert_clean_console(browser, "/hosts")

    browser.get(dashboard + "/workers")
    text = main_text(browser)
    assert "ruby-web-1" in text and "waiting" in text and "working" in text
    browser.find_element("link text", pid).click()
    wait_for(lambda: "Current job" in main_text(browser), 10, "the worker page")
    assert fleet["worker"] in main_text(browser)
    assert_clean_console(browser, "/workers/<id>")

    browser.get(dashboard + "/queues")
    assert "archive" in main_text(browser)
    assert_clean_console(browser, "/queues")

    browser.get(dashboard + "/failed?exception=Timeout::Error")
    text = main_text(browser)
    assert "Resize" in text and "Archive\n" not in text and "Showing 1–1 of 1 matching" in text
    browser.get(dashboard + "/failed?class=jobs.Mailer")
    browser.find_element("link text", "#2").click()
    wait_for(lambda: "Backtrace" in main_text(browser), 10, "the failed job page")
    assert "ValueError: no such address" in browser.find_element("id", "backtrace").text
    assert '"enqueue_timestamp"' in browser.find_element("id", "payload").text
    assert_clean_console(browser, "/failed/2")


def test_retry_and_remove_from_the_page(browser, fleet, dashboard, r):
    browser.get(dashboard + "/failed")
    row = browser.find_element("xpath", "//tr[td/a[text()='#0']]")
    row.find_element("xpath", ".//button[text()='Retry']").click()
    wait_for(lambda: "Retried failed job #0." in browser.page_source, 10, "the retry notice")
    record = json.loads(r.lindex("resque:failed", 0))
    assert record["retried_at"].endswith(" UTC")
    assert r.lrange("resque:queue:archive", -1, -1) == [b'{"class":"Archive","args":[35,"tar"]}']
    assert "retried" in browser.find_element("xpath", "//tr[td/a[text()='#0']]").text
    row = browser.find_element("xpath", "//tr[td/a[text()='#1']]")
    row.find_element("xpath", ".//button[text()='Remove']").click()
    wait_for(lambda: "Removed failed job #1." in browser.page_source, 10, "the remove notice")
    assert [json.loads(x)["payload"]["class"] for x in r.lrange("resque:failed", 0, -1)] == [
        "Archive",
        "jobs.Mailer",
    ]
    assert_clean_console(browser, "/failed after retry and remove")


def test_pause_and_resume_from_the_page(browser, fleet, dashboard, r):
    key = f"resque:resqued:pause:{fleet['master']}"
    browser.get(dashboard + "/hosts")
    article = f"[id='master-{fleet['master']}']"
    browser.find_element("css selector", f"{article} button.pause").click()
    wait_for(lambda: r.get(key) == b"true", 10, "the master's pause key")
    wait_for(lambda: "Paused the workers of master" in browser.page_source, 10, "the notice")
    state = browser.find_element("css selector", f"{article} table").text
    assert "paused" in state
    browser.find_element("css selector", f"{article} button.resume").click()
    wait_for(lambda: not r.exists(key), 10, "the pause key to go")

    browser.find_element("id", "pause-all").click()
    browser.switch_to.alert.accept()  # "Pause every worker on this Redis ...?"
    wait_for(lambda: r.get("resque:pause-all-workers") == b"true", 10, "pause-all-workers")
    wait_for(lambda: browser.find_elements("css selector", ".banner"), 10, "the banner")
    browser.find_element("id", "resume-all").click()
    wait_for(lambda: not r.exists("resque:pause-all-workers"), 10, "pause-all to go")
    assert_clean_console(browser, "/hosts after pause and resume")


def test_token_required_when_bound_beyond_loopback(browser, r, redis_url, tmp_path):
    port = free_port()
    refused = Dashboard(f"0.0.0.0:{port}", redis_url, tmp_path / "refused.log")
    assert refused.proc.wait(20) == 1
    refused.stop()
    assert "refusing to serve the dashboard on 0.0.0.0 without a token" in refused.output()

    dash = Dashboard(f"0.0.0.0:{port}", redis_url, tmp_path / "web.log", token=TOKEN)
    try:
        dash.wait_listening(port)
        base = f"http://127.0.0.1:{port}"
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(base + "/api/fleet.json", timeout=10)
        assert err.value.code == 401
        req = urllib.request.Request(
            base + "/api/fleet.json", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert json.load(resp)["format"] == 1

        browser.delete_all_cookies()
        browser.get(base + "/failed")
        assert browser.current_url == base + "/login?next=/failed"
        browser.find_element("id", "token").send_keys("not-the-token")
        browser.find_element("id", "login").click()
        wait_for(lambda: "That is not the token." in browser.page_source, 10, "the refusal")
        console_errors(browser)  # the 401 page load is logged by the browser itself
        browser.find_element("id", "token").send_keys(TOKEN)
        browser.find_element("id", "login").click()
        wait_for(lambda: browser.current_url == base + "/failed", 10, "the failed page")
        assert "Failed jobs" in browser.title
        assert_clean_console(browser, "/failed after login")
    finally:
        dash.stop()
