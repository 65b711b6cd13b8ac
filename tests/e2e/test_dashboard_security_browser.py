"""The dashboard against another site of the same host, in a real headless Chromium: a page
on another loopback port plants the CSRF cookie and posts from a sandboxed frame (Origin:
null) or from itself; logging out ends the session for every copy of its cookie."""

from __future__ import annotations

import pytest
from support.browser import Dashboard, Pages, free_port, local_dashboard
from support.procs import wait_for

TOKEN = "s3cret-token-for-tests"


@pytest.fixture
def dashboard(redis_url, tmp_path):
    """The dashboard as most run it: loopback, no token."""
    with local_dashboard(redis_url, tmp_path / "web.log") as base:
        yield base


PLANT = "<script>document.cookie = 'resqued_csrf=planted-value; path=/';</script>"


def post_form(target: str) -> str:
    """A form that posts pause-all with the planted value, sent as soon as it loads (to the
    top window: the dashboard's pages refuse to be framed, its refusals too)."""
    return (
        f"<form method='post' action='{target}/pause-all' target='_top'>"
        "<input name='csrf' value='planted-value'></form>"
        "<script>document.forms[0].submit()</script>"
    )


def attacker(target: str, sandboxed: bool) -> dict[str, str]:
    """Another site of the same host: it plants the CSRF cookie (cookies know no ports) and
    posts from a sandboxed frame (Origin: null) or from its own page."""
    if sandboxed:
        body = (
            '<iframe sandbox="allow-forms allow-scripts allow-top-navigation" '
            f'srcdoc="{post_form(target)}"></iframe>'
        )
    else:
        body = post_form(target)
    return {"/": "<!doctype html><title>cat pictures</title>" + PLANT + body}


def page_text(browser) -> str:
    return browser.find_element("tag name", "body").text


@pytest.mark.parametrize("sandboxed", [True, False], ids=["origin-null", "other-port"])
def test_a_planted_cookie_and_a_post_from_another_port_are_refused(
    browser, dashboard, r, sandboxed
):
    browser.delete_all_cookies()  # a browser that has not been to the dashboard lately
    evil = Pages(attacker(dashboard, sandboxed))
    try:
        browser.get(f"http://127.0.0.1:{evil.port}/")
        wait_for(lambda: "Forbidden" in page_text(browser), 15, "the dashboard's refusal")
        text = page_text(browser)
        if sandboxed:
            assert "opaque origin (Origin: null" in text
        else:
            assert f"posted from http://127.0.0.1:{evil.port}" in text
        cookies = {c["name"]: c["value"] for c in browser.get_cookies()}
        assert cookies.get("resqued_csrf") == "planted-value"  # the plant took
        assert not r.exists("resque:pause-all-workers")
    finally:
        evil.stop()
    # The operator's own button still works; the login page says there is no token.
    browser.get(dashboard + "/login")
    assert "This dashboard has no token" in browser.find_element("id", "no-token").text
    browser.get(dashboard + "/hosts")
    browser.find_element("id", "pause-all").click()
    browser.switch_to.alert.accept()
    wait_for(lambda: r.get("resque:pause-all-workers") == b"true", 10, "pause-all")


def test_logout_ends_the_session_for_every_copy_of_its_cookie(browser, redis_url, tmp_path):
    port = free_port()
    dash = Dashboard(f"127.0.0.1:{port}", redis_url, tmp_path / "web.log", TOKEN)
    base = f"http://127.0.0.1:{port}"
    try:
        dash.wait_listening(port)
        browser.delete_all_cookies()
        browser.get(base + "/workers?state=working")
        assert browser.current_url == base + "/login?next=/workers%3Fstate%3Dworking"
        browser.find_element("id", "token").send_keys(TOKEN)
        browser.find_element("id", "login").click()
        wait_for(lambda: browser.current_url == base + "/workers?state=working", 10, "login")
        session = browser.get_cookie("resqued_session")
        assert session["httpOnly"] and session["sameSite"] == "Lax" and not session["secure"]
        browser.find_element("id", "logout").click()
        wait_for(lambda: browser.current_url.startswith(base + "/login"), 10, "the login page")
        # A copy of the cookie (another tab, a thief) is worth nothing now.
        browser.add_cookie({"name": "resqued_session", "value": session["value"], "path": "/"})
        browser.get(base + "/workers")
        assert browser.current_url == base + "/login?next=/workers"
        assert "This dashboard needs its token" in browser.page_source
    finally:
        dash.stop()
