"""The dashboard's Delayed and Schedule tabs without a browser: what they show, and their
actions (queue now, remove, run a schedule) behind the CSRF check."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("starlette")

from starlette.testclient import TestClient  # noqa: E402

from resqued.resque.delayed import Delayed, entry  # noqa: E402
from resqued.resque.delayed_admin import digest  # noqa: E402
from resqued.resque.schedules import Schedules  # noqa: E402
from resqued.resque.store import Store  # noqa: E402
from resqued.web import create_app  # noqa: E402

BASE = "http://127.0.0.1:5678"
FUTURE = 2_000_000_000
A = entry("Archive", [35, "tar"], "file_serve")
B = entry("Archive", [36], "file_serve")


@pytest.fixture
def client(r):
    """A browser on the dashboard's own pages: its posts carry the dashboard's Origin."""
    with TestClient(create_app(Store(r), None, 60), base_url=BASE, headers={"Origin": BASE}) as c:
        yield c


@pytest.fixture
def delayed(r):
    d = Delayed(Store(r))
    d.push(FUTURE, A)
    d.push(FUTURE, B)
    d.push(FUTURE + 60, A)
    return d


def csrf_of(client) -> str:
    """The CSRF value the pages' forms carry (the Hosts page always has one)."""
    found = re.search(r'name="csrf" value="([^"]+)"', client.get("/hosts").text)
    assert found is not None
    return found.group(1)


def test_the_delayed_tab_lists_seconds_with_counts_and_the_lock(client, r, delayed):
    r.set("resque:resque:resque_scheduler_master_lock", "web1:42", ex=100)
    page = client.get("/delayed").text
    assert 'name="csrf"' in page
    assert 'href="/delayed"' in page and 'href="/schedule"' in page  # in the nav
    assert f'href="/delayed/{FUTURE}"' in page and f'href="/delayed/{FUTURE + 60}"' in page
    assert "<code>web1:42</code> holds the scheduler lock" in page
    assert "3 job(s) delayed in 2 timestamp(s)" in page
    second = client.get(f"/delayed/{FUTURE}").text
    assert "Archive" in second and digest(A) in second and digest(B) in second


def test_queue_now_and_remove_need_the_csrf_token_and_the_right_job(client, r, delayed):
    form = {"epoch": str(FUTURE), "index": "1", "digest": digest(B)}
    assert client.post("/delayed/remove", data=form).status_code == 403
    assert r.llen(f"resque:delayed:{FUTURE}") == 2
    token = csrf_of(client)
    stale = client.post("/delayed/remove", data={**form, "digest": digest(A), "csrf": token})
    assert "changed meanwhile" in stale.text and r.llen(f"resque:delayed:{FUTURE}") == 2
    done = client.post("/delayed/remove", data={**form, "csrf": token}, follow_redirects=False)
    assert done.status_code == 303
    assert r.lrange(f"resque:delayed:{FUTURE}", 0, -1) == [A]
    assert not r.exists(b"resque:timestamps:" + B)
    # Queue the last job of the second now: it is on its queue, and the second is gone.
    now = {"epoch": str(FUTURE), "index": "0", "digest": digest(A), "csrf": token}
    client.post("/delayed/enqueue-now", data=now)
    assert r.lrange("resque:queue:file_serve", 0, -1) == [b'{"class":"Archive","args":[35,"tar"]}']
    assert not r.exists(f"resque:delayed:{FUTURE}")
    assert r.zrange("resque:delayed_queue_schedule", 0, -1) == [str(FUTURE + 60).encode()]
    assert r.smembers(b"resque:timestamps:" + A) == {f"resque:delayed:{FUTURE + 60}".encode()}
    # A whole second at once.
    client.post("/delayed/enqueue-now", data={"epoch": str(FUTURE + 60), "csrf": token})
    assert r.llen("resque:queue:file_serve") == 2 and r.zcard("resque:delayed_queue_schedule") == 0


def test_the_schedule_tab_shows_last_and_next_runs_and_runs_one_now(
    client, r, tmp_path, monkeypatch
):
    pytest.importorskip("croniter")
    path = tmp_path / "schedule.yml"
    path.write_text("tick:\n  every: 1m\n  class: Tick\n  queue: default\n  args: [1]\n")
    monkeypatch.setenv("RESQUED_SCHEDULE", str(path))
    Schedules(Store(r)).set_persistent(
        "nightly", {"cron": "0 3 * * * UTC", "class": "Nightly", "queue": "low"}
    )
    r.hset("resque:delayed:last_enqueued_at", "tick", "2030-01-01 12:00:00 +0000")
    page = client.get("/schedule").text
    assert "<code>tick</code>" in page and "<code>nightly</code>" in page
    assert "2030-01-01 12:00:00 +0000" in page and "2030-01-01 12:01:00" in page
    assert "03:00:00" in page  # the cron line's next run
    token = csrf_of(client)
    client.post("/schedule/run", data={"name": "tick", "csrf": token})
    assert r.lrange("resque:queue:default", 0, -1) == [b'{"class":"Tick","args":[1]}']
    missing = client.post("/schedule/run", data={"name": "nope", "csrf": token})
    assert "no schedule named &#39;nope&#39;" in missing.text
    path.write_text("tick: [")
    assert "not valid YAML" in client.get("/schedule").text  # and the rest is still shown
