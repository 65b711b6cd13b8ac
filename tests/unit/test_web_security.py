"""The dashboard's guard without a browser: CSRF bound to a secret, origins, sessions that
end, throttled logins, cookies, proxies and what each refusal says."""

from __future__ import annotations

import os
import re

import pytest

pytest.importorskip("starlette")

from starlette.requests import Request  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402
from support.fleet import push_failures, ruby_failure  # noqa: E402
from support.redis_server import free_port  # noqa: E402

from resqued.errors import ResquedError  # noqa: E402
from resqued.resque.store import Store  # noqa: E402
from resqued.web import create_app  # noqa: E402
from resqued.web.options import (  # noqa: E402
    check_exposure,
    load_token,
    origin_of,
    proxy_options,
    token_file_warning,
)
from resqued.web.proxy import arrival  # noqa: E402
from resqued.web.sessions import Sessions, Throttle  # noqa: E402

BASE = "http://127.0.0.1:5678"
TLS = "https://127.0.0.1:5678"  # where a TLS proxy's browser sends its (Secure) cookies
TOKEN = "a-token-of-some-length"
PROXY = proxy_options(True, "127.0.0.1", None)


def csrf_in(html: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', html).group(1)


def app(r, token=None, proxy=None):
    return create_app(Store(r), token, 60, proxy)


def login(c, token=TOKEN, next_="/", **headers) -> object:
    csrf = csrf_in(c.get("/login").text)
    return c.post(
        "/login",
        data={"token": token, "csrf": csrf, "next": next_},
        headers=headers,
        follow_redirects=False,
    )


# -- CSRF and origins -----------------------------------------------------------------------


def test_a_planted_cookie_and_its_value_are_not_a_csrf_token(r):
    """Another port of the same host can set our cookie; it cannot compute the form value."""
    with TestClient(app(r), base_url=BASE) as c:
        c.cookies.set("resqued_csrf", "planted-by-evil")
        resp = c.post("/pause-all", data={"csrf": "planted-by-evil"}, headers={"Origin": BASE})
        assert resp.status_code == 403 and "not this browser's" in resp.text
        assert not r.exists("resque:pause-all-workers")


@pytest.mark.parametrize(
    "headers, said",
    [
        ({"Origin": "null"}, "opaque origin (Origin: null"),
        ({}, "neither an Origin nor a Referer"),
        ({"Origin": "http://127.0.0.1:8000"}, "posted from http://127.0.0.1:8000"),
        ({"Referer": "http://evil.example/x"}, "posted from http://evil.example"),
    ],
)
def test_posts_from_elsewhere_are_refused_whatever_their_csrf(r, headers, said):
    with TestClient(app(r), base_url=BASE, headers={"Origin": BASE}) as c:
        csrf = csrf_in(c.get("/hosts").text)
        c.headers.pop("Origin")
        resp = c.post("/pause-all", data={"csrf": csrf}, headers=headers)
        assert resp.status_code == 403 and said in resp.text, resp.text
        assert "Traceback" not in resp.text and not r.exists("resque:pause-all-workers")


def test_a_referer_of_the_dashboard_stands_for_a_missing_origin(r):
    with TestClient(app(r), base_url=BASE) as c:
        csrf = csrf_in(c.get("/hosts").text)
        resp = c.post(
            "/pause-all",
            data={"csrf": csrf},
            headers={"Referer": BASE + "/hosts"},
            follow_redirects=False,
        )
        assert resp.status_code == 303 and r.get("resque:pause-all-workers") == b"true"


def test_the_csrf_value_follows_the_session(r):
    """Before a login it is bound to the browser's cookie; after, to the session: a form
    loaded before the login (or before a logout) is refused with the reason."""
    with TestClient(app(r, TOKEN), base_url=BASE, headers={"Origin": BASE}) as c:
        before = csrf_in(c.get("/login").text)
        assert login(c).status_code == 303
        resp = c.post("/pause-all", data={"csrf": before})
        assert resp.status_code == 403 and "loaded before a login" in resp.text
        after = csrf_in(c.get("/hosts").text)
        assert after != before
        resp = c.post("/pause-all", data={"csrf": after}, follow_redirects=False)
        assert resp.status_code == 303


# -- sessions -----------------------------------------------------------------------------


def test_logout_ends_the_session_for_every_copy_of_the_cookie(r):
    with TestClient(app(r, TOKEN), base_url=BASE, headers={"Origin": BASE}) as c:
        resp = login(c)
        cookie = resp.cookies["resqued_session"]
        assert c.get("/api/fleet.json").status_code == 200
        c.post("/logout", data={"csrf": csrf_in(c.get("/hosts").text)})
        c.cookies.set("resqued_session", cookie)  # a copy kept (another tab, a thief)
        assert c.get("/api/fleet.json").status_code == 401
        page = c.get("/workers", headers={"Accept": "text/html"}, follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/login")


def test_sessions_end_when_idle_and_when_old():
    now = [1000.0]
    s = Sessions(idle=60, lifetime=300, clock=lambda: now[0])
    a = s.create()
    now[0] += 59
    assert s.valid(a)
    now[0] += 61
    assert not s.valid(a) and len(s) == 0
    b = s.create()
    for _ in range(6):
        now[0] += 50
        assert s.valid(b)  # busy: never idle
    now[0] += 50
    assert not s.valid(b)  # but 350 s after the login
    assert not s.valid("") and not s.valid("made-up")


def test_the_session_cookie_is_lax_httponly_and_secure_behind_tls(r):
    with TestClient(app(r, TOKEN), base_url=BASE, headers={"Origin": BASE}) as c:
        cookie = login(c).headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    # Behind a trusted proxy that speaks TLS to the browser.
    ext = "https://jobs.example"
    fwd = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "jobs.example", "Origin": ext}
    with TestClient(
        app(r, TOKEN, PROXY), base_url=TLS, headers=fwd, client=("127.0.0.1", 40000)
    ) as c:
        cookie = login(c).headers["set-cookie"]
        assert "Secure" in cookie and "SameSite=lax" in cookie
    # The same headers from an address that is not a trusted proxy count for nothing.
    with TestClient(
        app(r, TOKEN, PROXY), base_url=BASE, headers=fwd, client=("10.9.9.9", 40000)
    ) as c:
        resp = login(c)
        assert resp.status_code == 403 and "not trusted" in resp.text
        assert "--forwarded-allow-ips" in resp.text and "10.9.9.9" in resp.text


def test_failed_logins_are_throttled_per_address():
    now = [0.0]
    t = Throttle(clock=lambda: now[0])
    for _ in range(5):
        assert t.wait("a") == 0
        t.failed("a")
    assert t.wait("a") == 1.0 and t.wait("b") == 0
    t.failed("a")
    assert t.wait("a") == 2.0
    now[0] += 2
    assert t.wait("a") == 0
    t.succeeded("a")
    assert t.wait("a") == 0


def test_the_login_form_and_bearer_guesses_are_throttled(r):
    with TestClient(app(r, TOKEN), base_url=BASE, headers={"Origin": BASE}) as c:
        for _ in range(5):
            assert login(c, "wrong-token-123").status_code == 401
        resp = login(c)  # even the right token waits now
        assert resp.status_code == 429 and "Too many failed logins" in resp.text
        guess = c.get("/api/fleet.json", headers={"Authorization": "Bearer nope"})
        assert guess.status_code == 429 and guess.json()["error"].startswith("Too many")
    with TestClient(app(r, TOKEN), base_url=BASE, client=("10.0.0.7", 1)) as other:
        assert (
            other.get("/api/fleet.json", headers={"Authorization": f"Bearer {TOKEN}"}).status_code
            == 200
        )


def test_the_login_keeps_the_query_string(r):
    with TestClient(app(r, TOKEN), base_url=BASE, headers={"Origin": BASE}) as c:
        resp = c.get(
            "/failed?class=A&start=20", headers={"Accept": "text/html"}, follow_redirects=False
        )
        assert resp.headers["location"] == "/login?next=/failed%3Fclass%3DA%26start%3D20"
        page = c.get(resp.headers["location"])
        assert 'name="next" value="/failed?class=A&amp;start=20"' in page.text
        done = login(c, next_="/failed?class=A&start=20")
        assert done.headers["location"] == "/failed?class=A&start=20"


def test_without_a_token_the_login_page_says_so(r):
    with TestClient(app(r), base_url=BASE) as c:
        page = c.get("/login")
        assert "This dashboard has no token" in page.text and 'id="token"' not in page.text


# -- proxies ------------------------------------------------------------------------------


def test_without_a_token_a_proxied_request_is_refused_with_its_cause(r):
    with TestClient(app(r), base_url=BASE) as c:
        resp = c.get("/", headers={"X-Forwarded-For": "203.0.113.9"})
        assert resp.status_code == 403
        assert (
            "came through a proxy (x-forwarded-for)" in resp.text and "needs a token" in resp.text
        )
        resp = c.get(
            "/", headers={"Sec-Fetch-Site": "same-origin", "Referer": "http://jobs.example/"}
        )
        assert resp.status_code == 403 and "reached it as http://jobs.example" in resp.text
        # A link from elsewhere (a ticket) is fine: the browser says cross-site.
        resp = c.get(
            "/", headers={"Sec-Fetch-Site": "cross-site", "Referer": "https://tickets.example/"}
        )
        assert resp.status_code == 200


def _scope(headers: dict[str, str], client: str = "127.0.0.1", version: str = "1.1") -> Request:
    return Request(
        {
            "type": "http",
            "http_version": version,
            "method": "GET",
            "scheme": "http",
            "path": "/",
            "query_string": b"",
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
            "client": (client, 50000),
            "server": ("127.0.0.1", 5678),
        }
    )


def test_how_a_request_arrived():
    plain = arrival(_scope({"host": "127.0.0.1:5678"}), PROXY)
    assert plain.origin == "http://127.0.0.1:5678" and not plain.proxied
    # nginx's proxy_pass as it comes: HTTP/1.0, Host 127.0.0.1:5678, a browser's headers.
    nginx = arrival(
        _scope({"host": "127.0.0.1:5678", "sec-fetch-mode": "navigate"}, version="1.0"), PROXY
    )
    assert nginx.proxied == ("HTTP/1.0",)
    fwd = {
        "host": "127.0.0.1:5678",
        "x-forwarded-for": "198.51.100.4, 127.0.0.1",
        "x-forwarded-proto": "https",
        "x-forwarded-host": "jobs.example",
        "x-forwarded-port": "8443",
    }
    trusted = arrival(_scope(fwd), PROXY)
    assert trusted.origin == "https://jobs.example:8443" and trusted.client == "198.51.100.4"
    assert trusted.secure and trusted.trusted
    untrusted = arrival(_scope(fwd, client="10.1.1.1"), PROXY)
    assert untrusted.origin == "http://127.0.0.1:5678" and untrusted.client == "10.1.1.1"
    assert not untrusted.trusted and "x-forwarded-for" in untrusted.proxied
    default_port = arrival(_scope({**fwd, "x-forwarded-port": "443"}), PROXY)
    assert default_port.origin == "https://jobs.example"


def test_behind_a_trusted_proxy_forms_from_the_public_origin_work(r):
    fwd = {
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "jobs.example",
        "X-Forwarded-For": "198.51.100.4",
        "Origin": "https://jobs.example",
    }
    with TestClient(app(r, TOKEN, PROXY), base_url=TLS, headers=fwd, client=("127.0.0.1", 1)) as c:
        assert login(c).status_code == 303
        csrf = csrf_in(c.get("/hosts").text)
        resp = c.post("/pause-all", data={"csrf": csrf}, follow_redirects=False)
        assert resp.status_code == 303 and r.get("resque:pause-all-workers") == b"true"


def test_with_an_external_url_only_its_origin_may_post(r):
    proxy = proxy_options(False, None, "https://jobs.example/")
    with TestClient(
        app(r, TOKEN, proxy), base_url=TLS, headers={"Origin": "https://jobs.example"}
    ) as c:
        assert login(c).status_code == 303
        csrf = csrf_in(c.get("/hosts").text)
        resp = c.post("/pause-all", data={"csrf": csrf}, headers={"Origin": "https://evil.example"})
        assert resp.status_code == 403
        assert "but this dashboard is https://jobs.example (--external-url)" in resp.text
        resp = c.post("/pause-all", data={"csrf": csrf}, follow_redirects=False)
        assert resp.status_code == 303


def test_proxy_flags():
    assert proxy_options(False, None, None).configured is False
    p = proxy_options(True, None, None)
    assert p.trusts("127.0.0.1") and not p.trusts("10.0.0.1")
    p = proxy_options(False, "10.0.0.0/8, ::1", None)
    assert p.trusts("10.2.3.4") and p.trusts("::1") and not p.trusts("127.0.0.1")
    assert proxy_options(False, "*", None).trusts("192.0.2.1")
    with pytest.raises(ResquedError, match="invalid --forwarded-allow-ips entry 'nope'"):
        proxy_options(True, "nope", None)
    with pytest.raises(ResquedError, match="invalid --external-url"):
        proxy_options(False, None, "https://jobs.example/resqued/")
    with pytest.raises(ResquedError, match="invalid --external-url"):
        proxy_options(False, None, "jobs.example")
    assert origin_of("HTTPS://Jobs.Example:443/x") == "https://jobs.example"
    with pytest.raises(ResquedError, match="behind a proxy .* without a token"):
        check_exposure("127.0.0.1", None, proxy_options(True, None, None))
    check_exposure("127.0.0.1", TOKEN, proxy_options(True, None, None))


def test_a_token_file_others_may_read_is_refused(tmp_path):
    f = tmp_path / "token"
    f.write_text(TOKEN + "\n")
    os.chmod(f, 0o644)
    with pytest.raises(
        ResquedError, match=r"may be read or written by other users \(mode 0644\): chmod 600"
    ):
        load_token(str(f))
    os.chmod(f, 0o640)
    assert load_token(str(f)) == TOKEN
    assert "readable by its group (mode 0640)" in token_file_warning(str(f))
    os.chmod(f, 0o600)
    assert load_token(str(f)) == TOKEN and token_file_warning(str(f)) is None


def test_api_answers_json_when_redis_is_down_or_access_is_refused(r):
    store = Store.connect(f"redis://127.0.0.1:{free_port()}/0")
    with TestClient(create_app(store, None, 60), base_url=BASE) as c:
        resp = c.get("/api/fleet.json")
        assert resp.status_code == 503 and resp.json()["error"].startswith("cannot read Redis")
    push_failures(r, ruby_failure())
    with TestClient(app(r, TOKEN), base_url=BASE) as c:
        resp = c.get("/api/fleet.json")
        assert resp.status_code == 401 and resp.json() == {
            "error": "Unauthorized: a token is required."
        }
