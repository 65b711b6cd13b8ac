"""The dashboard behind the nginx of deploy/nginx/resqued-web.conf, as shipped (Host $host)
and with nginx's default Host (the proxy_pass address), driven by a real Chromium over
TLS: the login, its redirect, a Secure session cookie, an action and the logout work;
and a dashboard set up wrong says why instead of serving or refusing blindly."""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request

import pytest
from support import ROOT
from support.browser import Dashboard, body_text, chromium, free_port
from support.nginx import Nginx, certificate
from support.procs import wait_for

TOKEN = "s3cret-token-for-tests"
NAME = "dash.test"  # the name browsers use, mapped to 127.0.0.1 in Chromium
EXAMPLE = ROOT / "deploy" / "nginx" / "resqued-web.conf"
HOST_LINE = "        proxy_set_header Host $host;\n"


def server_block(tmp_path, port: int, dash_port: int, mode: str) -> str:
    """The shipped example on test ports and a test certificate; ``mode``: "host" as shipped,
    "proxy_host" without its Host line, "bare" with nothing but proxy_pass."""
    text = EXAMPLE.read_text()
    cert, key = certificate(tmp_path, NAME)
    for old, new in [
        ("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;"),
        ("server_name jobs.example.com;", f"server_name {NAME};"),
        ("/etc/ssl/certs/jobs.example.com.pem", str(cert)),
        ("/etc/ssl/private/jobs.example.com.key", str(key)),
        ("proxy_pass http://127.0.0.1:5678;", f"proxy_pass http://127.0.0.1:{dash_port};"),
        *([(HOST_LINE, "")] if mode != "host" else []),
    ]:
        assert old in text, f"{EXAMPLE.name} no longer has {old!r}"
        text = text.replace(old, new)
    if mode == "bare":
        lines = text.splitlines(keepends=True)
        text = "".join(x for x in lines if "proxy_set_header" not in x and "http_version" not in x)
    return text


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with chromium(
        tmp_path_factory.mktemp("chromium-profile"),
        f"--host-resolver-rules=MAP {NAME} 127.0.0.1",
        "--ignore-certificate-errors",
    ) as driver:
        yield driver


class Setup:
    """The dashboard (its flags) behind nginx (its mode)."""

    def __init__(self, tmp_path, redis_url, mode: str, token: str | None, *flags: str) -> None:
        self.dash_port, self.port = free_port(), free_port()
        self.dash = Dashboard(
            f"127.0.0.1:{self.dash_port}", redis_url, tmp_path / "web.log", token, *flags
        )
        self.nginx = None
        try:
            self.dash.wait_listening(self.dash_port)
            block = server_block(tmp_path, self.port, self.dash_port, mode)
            self.nginx = Nginx(tmp_path / "nginx", block, self.port)
        except BaseException:
            self.stop()
            raise
        self.base = f"https://{NAME}:{self.port}"

    def stop(self) -> None:
        if self.nginx:
            self.nginx.stop()
        self.dash.stop()


@pytest.fixture
def setups(tmp_path, redis_url):
    started = []

    def start(mode: str, token: str | None, *flags: str) -> Setup:
        s = Setup(tmp_path / f"s{len(started)}", redis_url, mode, token, *flags)
        started.append(s)
        return s

    for d in ("s0", "s1"):
        (tmp_path / d).mkdir()
    yield start
    for s in started:
        s.stop()


@pytest.mark.parametrize("mode", ["host", "proxy_host"])
def test_the_shipped_nginx_set_up_works_in_both_host_modes(browser, setups, r, mode):
    s = setups(mode, TOKEN, "--proxy-headers")
    assert "proxy headers trusted" in s.dash.output()
    browser.delete_all_cookies()
    browser.get(s.base + "/failed?class=Archive")
    assert browser.current_url == s.base + "/login?next=/failed%3Fclass%3DArchive"
    browser.find_element("id", "token").send_keys(TOKEN)
    browser.find_element("id", "login").click()
    wait_for(lambda: browser.current_url == s.base + "/failed?class=Archive", 10, "the page")
    session = browser.get_cookie("resqued_session")
    assert session["secure"] and session["httpOnly"] and session["sameSite"] == "Lax"
    browser.get(s.base + "/hosts")
    browser.find_element("id", "pause-all").click()
    browser.switch_to.alert.accept()
    wait_for(lambda: r.get("resque:pause-all-workers") == b"true", 10, "pause-all through nginx")
    wait_for(lambda: "Paused every worker" in browser.page_source, 10, "the notice")
    browser.find_element("id", "logout").click()
    wait_for(lambda: browser.current_url.startswith(s.base + "/login"), 10, "logged out")
    browser.get(s.base + "/hosts")
    assert browser.current_url == s.base + "/login?next=/hosts"


def test_a_dashboard_set_up_wrong_behind_nginx_says_why(browser, setups, r):
    # No token: what a proxy serves, it serves to anyone; refused, naming the proxy.
    s = setups("host", None)
    for page in ("/", "/static/app.css"):
        status, text = fetch(s.base + page, s.port)
        assert status == 403 and "this dashboard has no token" in text, text
        assert "came through a proxy (x-forwarded-for" in text
    s.stop()
    # nginx's proxy_pass with nothing else: HTTP/1.0 with a browser's headers tells it.
    s = setups("bare", None)
    browser.delete_all_cookies()
    browser.get(s.base + "/")
    assert "came through a proxy (HTTP/1.0)" in browser.find_element("tag name", "body").text
    s.stop()


def test_untrusted_proxy_headers_are_named_at_the_login(browser, setups, r, tmp_path):
    """A token but no --proxy-headers: the pages ask for the login, and the login's refusal
    names the proxy and the flags, not a stale CSRF token."""
    s = setups("proxy_host", TOKEN)
    browser.delete_all_cookies()
    browser.get(s.base + "/")
    assert browser.current_url == s.base + "/login?next=/"
    browser.find_element("id", "token").send_keys(TOKEN)
    browser.find_element("id", "login").click()
    wait_for(lambda: "Forbidden" in body_text(browser), 10, "refusal")
    text = browser.find_element("tag name", "body").text
    assert f"posted from {s.base}" in text and "not trusted" in text
    assert "--proxy-headers" in text and "--external-url" in text and "CSRF" not in text


def fetch(url: str, port: int) -> tuple[int, str]:
    """GET through nginx (by its loopback address, the TLS name given as Host)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    path = url.split(str(port), 1)[1]
    req = urllib.request.Request(f"https://127.0.0.1:{port}{path}", headers={"Host": NAME})
    try:
        with urllib.request.urlopen(req, timeout=10, context=context) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
