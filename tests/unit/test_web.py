"""The dashboard's HTTP surface without a browser: access rules, CSRF, actions, errors."""

from __future__ import annotations

import json
import os
import re
import sys

import pytest

pytest.importorskip("starlette")

from starlette.testclient import TestClient  # noqa: E402
from support.fleet import push_failures, register_master, ruby_failure  # noqa: E402
from support.redis_server import free_port  # noqa: E402

from resqued.errors import ResquedError  # noqa: E402
from resqued.fleet.rates import Rate  # noqa: E402
from resqued.resque import failed_pages as failed_module  # noqa: E402
from resqued.resque.store import Store  # noqa: E402
from resqued.web import chart, create_app  # noqa: E402
from resqued.web.options import check_exposure, load_token, parse_bind, url  # noqa: E402
from resqued.web.security import safe_next  # noqa: E402

BASE = "http://127.0.0.1:5678"
TOKEN = "a-token-of-some-length"


@pytest.fixture
def client(r):
    """A browser on the dashboard's own pages: its posts carry the dashboard's Origin."""
    with TestClient(create_app(Store(r), None, 60), base_url=BASE, headers={"Origin": BASE}) as c:
        yield c


def csrf_of(client, path: str = "/hosts") -> str:
    """The CSRF value the page's forms carry (bound to this browser's cookie)."""
    return csrf_in(client.get(path).text)


def csrf_in(html: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', html).group(1)


def confirmed(client, **params) -> dict[str, str]:
    """The hidden fields of a confirmation page (/confirm?do=...)."""
    html = client.get("/confirm", params=params).text
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', html))
    return {k: v.replace("&amp;", "&").replace("&#39;", "'") for k, v in fields.items()}


@pytest.mark.parametrize(
    "bind, expected",
    [
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("0.0.0.0:80", ("0.0.0.0", 80)),
        ("[::1]:9000", ("::1", 9000)),
        ("localhost", ("localhost", 5678)),
        (":7000", ("127.0.0.1", 7000)),
        ("7000", ("127.0.0.1", 7000)),
    ],
)
def test_bind_addresses(bind, expected):
    assert parse_bind(bind) == expected


@pytest.mark.parametrize("bind", ["host:port", "1.2.3.4:0", "[::1", "h:99999"])
def test_bad_bind_addresses_say_why(bind):
    with pytest.raises(ResquedError, match="invalid bind address"):
        parse_bind(bind)


def test_exposure_rules():
    check_exposure("127.0.0.1", None)
    check_exposure("::1", None)
    check_exposure("localhost", None)
    check_exposure("0.0.0.0", TOKEN)
    with pytest.raises(ResquedError, match="refusing to serve the dashboard on 0.0.0.0"):
        check_exposure("0.0.0.0", None)
    with pytest.raises(ResquedError, match="refusing"):
        check_exposure("web-1.example", None)
    with pytest.raises(ResquedError, match="too short"):
        check_exposure("127.0.0.1", "short")
    assert url("0.0.0.0", 5678) == "http://127.0.0.1:5678/"
    assert url("::1", 5678) == "http://[::1]:5678/"


def test_token_from_file_or_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("RESQUED_WEB_TOKEN", raising=False)
    assert load_token() is None
    monkeypatch.setenv("RESQUED_WEB_TOKEN", TOKEN)
    assert load_token() == TOKEN
    f = tmp_path / "token"
    f.write_text("  from-a-file-123  \nignored\n")
    os.chmod(f, 0o600)
    assert load_token(str(f)) == "from-a-file-123"
    f.write_text("")
    with pytest.raises(ResquedError, match="is empty"):
        load_token(str(f))
    with pytest.raises(ResquedError, match="cannot read token file"):
        load_token(str(tmp_path / "missing"))


def test_redirect_targets_stay_on_site():
    assert safe_next("/failed?start=20") == "/failed?start=20"
    for bad in ("//evil.example/", "https://evil.example/", "", None, "/\\evil"):
        assert safe_next(bad) == "/"


def test_pages_and_partial_refresh(client, r):
    register_master(r, "web-1", 100)
    push_failures(r, ruby_failure())
    for path in (
        "/",
        "/hosts",
        "/workers",
        "/queues",
        "/queues/high",
        "/failed",
        "/failed/0",
        "/failed?q=boom",
        "/redis",
        "/confirm?do=failed-remove",
        "/confirm?do=queue-clear&queue=high",
        "/login",
    ):
        resp = client.get(path)
        assert resp.status_code == 200, path
        assert resp.text.startswith("<!doctype html>")
        assert resp.headers["content-security-policy"].startswith("default-src 'self'")
        assert resp.headers["x-frame-options"] == "DENY"
    part = client.get("/hosts", headers={"X-Partial": "1"})
    assert "<html" not in part.text and 'id="master-web-1:100"' in part.text
    assert client.get("/failed/7").status_code == 404
    assert client.get("/workers/nobody:1:q").status_code == 404
    assert client.get("/api/fleet.json").json()["masters"][0]["id"] == "web-1:100"


def test_an_unchanged_live_refresh_is_a_304_without_a_body(client, r):
    push_failures(r, ruby_failure(cls="A"))
    client.get("/failed")  # the CSRF cookie, as a browser has it
    first = client.get("/failed?class=A", headers={"X-Partial": "1"})
    etag = first.headers["etag"]
    same = client.get("/failed?class=A", headers={"X-Partial": "1", "If-None-Match": etag})
    assert same.status_code == 304 and same.content == b"" and same.headers["etag"] == etag
    push_failures(r, ruby_failure(cls="A", error="again"))
    changed = client.get("/failed?class=A", headers={"X-Partial": "1", "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert "again" in changed.text
    whole = client.get("/failed?class=A", headers={"If-None-Match": changed.headers["etag"]})
    assert whole.status_code == 200  # only a live refresh is answered with 304


def test_the_failed_page_of_an_uncounted_filter_goes_on_with_before(client, r, monkeypatch):
    monkeypatch.setattr(failed_module, "CHUNK", 5)
    monkeypatch.setattr(failed_module, "SCAN_BUDGET", 10)
    push_failures(
        r, *[ruby_failure(cls=f"C{i}", retried_at="2024/01/02 00:00:00") for i in range(25)]
    )
    page = client.get("/failed?retried=yes")
    assert "Showing 20 matching" in page.text and "this filter is read page by page" in page.text
    assert '<a href="/failed?retried=yes&amp;before=5">older' in page.text
    rest = client.get("/failed?retried=yes&before=5")
    assert "#4" in rest.text and "#5<" not in rest.text and "older »" not in rest.text
    counted = client.get("/failed?class=C3")
    assert "Showing 1–1 of 1 matching" in counted.text and "Remove these 1…" in counted.text


def test_posts_need_the_csrf_token(client, r):
    push_failures(r, ruby_failure())
    assert client.post("/failed/retry-one", data={"index": "0"}).status_code == 403
    token = csrf_of(client)
    bad = client.post("/failed/retry-one", data={"index": "0", "csrf": "forged"})
    assert bad.status_code == 403
    other_site = client.post(
        "/failed/retry-one",
        data={"index": "0", "csrf": token},
        headers={"Origin": "http://evil.example"},
    )
    assert other_site.status_code == 403
    assert r.llen("resque:queue:high") == 0
    ok = client.post(
        "/failed/retry-one",
        data={"index": "0", "csrf": token, "back": "/failed?start=0"},
        headers={"Origin": BASE},
        follow_redirects=False,
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/failed?start=0"
    assert r.llen("resque:queue:high") == 1
    assert "Retried failed job #0." in client.get("/failed").text
    assert "Retried failed job #0." not in client.get("/failed").text  # shown once


def test_a_stale_digest_is_refused_with_a_notice(client, r):
    push_failures(r, ruby_failure(cls="A"), ruby_failure(cls="B"))
    token = csrf_of(client)
    page = client.post("/failed/remove-one", data={"index": "0", "digest": "0" * 16, "csrf": token})
    assert "changed since it was shown" in page.text
    assert r.llen("resque:failed") == 2


def test_actions(client, r):
    register_master(r, "web-1", 100)
    token = csrf_of(client)
    client.post("/masters/pause", data={"master": "web-1:100", "csrf": token})
    assert r.get("resque:resqued:pause:web-1:100") == b"true"
    client.post("/masters/resume", data={"master": "web-1:100", "csrf": token})
    assert not r.exists("resque:resqued:pause:web-1:100")
    page = client.post("/masters/pause", data={"master": "web-9:9", "csrf": token})
    assert "no live master" in page.text and not r.exists("resque:resqued:pause:web-9:9")
    client.post("/pause-all", data={"csrf": token})
    assert r.get("resque:pause-all-workers") == b"true"
    assert "All workers are paused" in client.get("/").text
    client.post("/resume-all", data={"csrf": token})
    assert not r.exists("resque:pause-all-workers")
    push_failures(r, ruby_failure(cls="A", queue="q1"), ruby_failure(cls="B", queue="q2"))
    client.post("/failed/retry", data={**confirmed(client, do="failed-retry", queue="q2")})
    assert r.llen("resque:queue:q2") == 1 and not r.exists("resque:queue:q1")
    client.post("/failed/remove", data={**confirmed(client, do="failed-remove", **{"class": "A"})})
    assert [json.loads(x)["payload"]["class"] for x in r.lrange("resque:failed", 0, -1)] == ["B"]
    page = client.post("/queues/remove", data=confirmed(client, do="queue-remove", queue="q2"))
    assert "Removed queue q2 and its 1 job(s)." in page.text
    assert not r.exists("resque:queue:q2")
    # Without the confirmation's snapshot, nothing changes.
    page = client.post("/failed/remove", data={"csrf": token})
    assert "needs its confirmation page" in page.text and r.llen("resque:failed") == 1


def test_big_or_unsized_posts_are_refused(client):
    token = csrf_of(client)
    resp = client.post("/pause-all", data={"csrf": token, "pad": "x" * 70000})
    assert resp.status_code == 413


def test_without_a_token_only_loopback_host_names_are_served(r):
    with TestClient(create_app(Store(r), None, 60), base_url="http://rebound.example") as c:
        assert c.get("/").status_code == 403
    with TestClient(create_app(Store(r), None, 60), base_url="http://[::1]:5678") as c:
        assert c.get("/").status_code == 200


def test_with_a_token_every_page_asks_for_it(r):
    base = "http://web-1.example"
    with TestClient(create_app(Store(r), TOKEN, 60), base_url=base, headers={"Origin": base}) as c:
        resp = c.get("/workers", headers={"Accept": "text/html"}, follow_redirects=False)
        assert resp.status_code == 303 and resp.headers["location"] == "/login?next=/workers"
        assert c.get("/api/fleet.json").status_code == 401
        assert c.post("/pause-all").status_code == 401
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        assert c.get("/api/fleet.json", headers=bearer).status_code == 200
        # A script with the token needs no CSRF field: browsers never send that header.
        c.post("/pause-all", headers=bearer)
        assert r.get("resque:pause-all-workers") == b"true"
        csrf = csrf_in(c.get("/login").text)
        wrong = c.post("/login", data={"token": "nope", "csrf": csrf, "next": "/workers"})
        assert wrong.status_code == 401 and "That is not the token." in wrong.text
        ok = c.post(
            "/login",
            data={"token": TOKEN, "csrf": csrf, "next": "//evil.example/"},
            follow_redirects=False,
        )
        assert ok.status_code == 303 and ok.headers["location"] == "/"
        assert c.get("/workers").status_code == 200
        c.post("/logout", data={"csrf": csrf_in(c.get("/workers").text)})
        assert c.get("/api/fleet.json").status_code == 401


def test_redis_down_is_a_page_without_the_password():
    store = Store.connect(f"redis://:hunter2@127.0.0.1:{free_port()}/0")
    with TestClient(create_app(store, None, 60), base_url=BASE) as c:
        resp = c.get("/")
        assert resp.status_code == 503 and "Cannot read Redis" in resp.text
        assert "hunter2" not in resp.text


def test_missing_web_extra_is_one_line(monkeypatch):
    monkeypatch.delitem(sys.modules, "resqued.web.app", raising=False)
    monkeypatch.setitem(sys.modules, "starlette", None)
    monkeypatch.setitem(sys.modules, "starlette.applications", None)
    with pytest.raises(ResquedError, match=r"pip install 'resqued\[web\]'"):
        create_app(Store.connect("redis://127.0.0.1:1/0"))


def test_chart_geometry():
    assert [chart.nice_max(v) for v in (0, 0.4, 1, 3, 7, 12, 99, 101)] == [
        1,
        1,
        1,
        5,
        10,
        20,
        100,
        200,
    ]
    c = chart.build([Rate(940.0, 2.0, 0.0), Rate(1000.0, 4.0, 1.0)], now=1000.0, window=60.0)
    assert c.y_max == 5 and not c.empty and c.minutes == 1
    first, last = c.processed.split()
    assert first.startswith(f"{chart.LEFT}.0,") and last.startswith(f"{c.right_x}.0,")
    assert chart.build([], 1000.0, 600.0).empty
