"""A real headless Chromium driven by Selenium, offline, and the dashboard process it looks at."""

from __future__ import annotations

import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from support import ROOT
from support.procs import wait_for
from support.tools import absent

CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,1000",
]


def executables() -> tuple[str, str]:
    """Debian's chromium and chromium-driver; skipped where absent, failed in CI."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        absent(
            "chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"
        )
    return browser, driver


def start_chromium(profile: Path, *flags: str):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    browser, driver = executables()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    for flag in flags:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


@contextmanager
def chromium(profile: Path, *flags: str) -> Iterator[Any]:
    """A started Chromium (``flags`` added to ours) that waits 30 s for a page; quit after."""
    driver = start_chromium(profile, *flags)
    try:
        driver.set_page_load_timeout(30)
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One plain Chromium for a test module (conftest.py makes it every test's fixture)."""
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as driver:
        yield driver


def console_errors(driver) -> list[str]:
    """Browser console entries at SEVERE level since the last call."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Pages:
    """Static HTML pages served from another loopback port: another site of the same host
    (an attacker's page, for instance).  ``pages``: path -> HTML."""

    def __init__(self, pages: dict[str, str]) -> None:
        served = pages

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                body = served.get(self.path.split("?")[0], "").encode()
                self.send_response(200 if body else 404)
                self.send_header("content-type", "text/html; charset=utf-8")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


class Dashboard:
    """``serve()`` in its own process, as ``resqued web`` runs it (``args``: its flags)."""

    def __init__(
        self, bind: str, redis_url: str, log: Path, token: str | None = None, *args: str
    ) -> None:
        env = {**os.environ, "REDIS_URL": redis_url, "PYTHONPATH": str(ROOT)}
        env.pop("RESQUED_WEB_TOKEN", None)
        if token:
            env["RESQUED_WEB_TOKEN"] = token
        self.log = log
        self.out = open(log, "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "tests/support/serve_dashboard.py"), bind, *args],
            stdout=self.out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_listening(self, port: int) -> None:
        def up() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"dashboard exited: {self.output()}")
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                return True
            except OSError:
                return False

        wait_for(up, 20, "the dashboard to listen")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.out.close()


@contextmanager
def local_dashboard(redis_url: str, log: Path) -> Iterator[str]:
    """The dashboard as most run it (loopback, no token), listening; yields its base URL."""
    port = free_port()
    dash = Dashboard(f"127.0.0.1:{port}", redis_url, log)
    try:
        dash.wait_listening(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        dash.stop()


def body_text(browser) -> str:  # type: ignore[no-untyped-def]
    """The page's text; "" while the page is being replaced (a stale element)."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    try:
        return str(browser.find_element("tag name", "body").text)
    except (NoSuchElementException, StaleElementReferenceException):
        return ""
