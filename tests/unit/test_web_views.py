"""The dashboard's views without a browser: a queue's jobs, failed search and pages, a
worker's history, the Redis page, confirmations that act on what they showed, and what
each page costs Redis (by its page, not by the data)."""

from __future__ import annotations

import json
import re

import pytest

pytest.importorskip("starlette")

from starlette.testclient import TestClient  # noqa: E402
from support.failed_list import calls  # noqa: E402
from support.fleet import (  # noqa: E402
    push_failures,
    pyres_failure,
    register_master,
    register_worker,
    ruby_failure,
)
from support.jobs import payload, push  # noqa: E402

from resqued.fleet import redis_info  # noqa: E402
from resqued.fleet.control import StopJob, control_key  # noqa: E402
from resqued.fleet.rates import Rate  # noqa: E402
from resqued.resque import failed_pages  # noqa: E402
from resqued.resque.keys import Keys  # noqa: E402
from resqued.resque.store import Store  # noqa: E402
from resqued.web import chart, create_app, redis_page  # noqa: E402

BASE = "http://127.0.0.1:5678"


@pytest.fixture
def client(r):
    with TestClient(create_app(Store(r), None, 60), base_url=BASE, headers={"Origin": BASE}) as c:
        yield c


def csrf_in(html: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', html).group(1)


def hidden(html: str) -> dict[str, str]:
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', html)
    return {k: v.replace("&amp;", "&").replace("&#39;", "'") for k, v in fields}


def confirm(client, **params) -> dict[str, str]:
    return hidden(client.get("/confirm", params=params).text)


def classes(r) -> list[str]:
    return [json.loads(x)["payload"]["class"] for x in r.lrange("resque:failed", 0, -1)]


# -- a queue's jobs -----------------------------------------------------------------------


def test_a_queue_page_shows_its_jobs_a_page_at_a_time(client, r):
    for i in range(45):
        push(r, "mail", "Mailer", i, "user@example.com", enqueued_at=1704110400 + i)
    page = client.get("/queues/mail")
    assert "Showing positions 0–19 of 45." in page.text
    assert "[0, &#34;user@example.com&#34;]" in page.text and "2024-01-01 12:00:00 UTC" in page.text
    third = client.get("/queues/mail?page=3")
    assert "Showing positions 40–44 of 45." in third.text and 'class="num">39<' not in third.text
    past = client.get("/queues/mail?page=9")
    assert "Page 9 is past the end: 45 job(s) in 3 page(s)." in past.text
    assert "« previous" not in past.text
    missing = client.get("/queues/nothing-here")
    assert "No queue named <code>nothing-here</code> is known" in missing.text


def test_delete_one_waiting_job_even_after_workers_took_some(client, r):
    for i in range(5):
        push(r, "mail", "Mailer", i)
    html = client.get("/queues/mail").text
    forms = re.findall(
        r'name="position" value="(\d+)"><input type="hidden" name="digest" value="(\w+)"', html
    )
    position, digest = forms[3]  # Mailer 3
    r.lpop("resque:queue:mail")  # a worker takes two jobs meanwhile
    r.lpop("resque:queue:mail")
    page = client.post(
        "/queues/job/remove",
        data={
            "queue": "mail",
            "position": position,
            "digest": digest,
            "csrf": csrf_in(html),
            "back": "/queues/mail",
        },
    )
    assert "Deleted a job from queue mail." in page.text
    assert [json.loads(x)["args"] for x in r.lrange("resque:queue:mail", 0, -1)] == [[2], [4]]
    again = client.post(
        "/queues/job/remove",
        data={"queue": "mail", "position": position, "digest": digest, "csrf": csrf_in(html)},
    )
    assert "that job is no longer waiting on mail" in again.text


def test_clearing_a_queue_deletes_the_confirmed_jobs_only(client, r):
    for i in range(6):
        push(r, "mail", "Mailer", i)
    fields = confirm(client, do="queue-clear", queue="mail")
    assert fields["n"] == "6"
    r.lpop("resque:queue:mail")  # a worker took one
    push(r, "mail", "Mailer", "pushed after the confirmation")
    page = client.post("/queues/clear", data=fields)
    assert "Deleted 5 job(s) from queue mail (of the 6 confirmed)." in page.text
    assert [json.loads(x)["args"] for x in r.lrange("resque:queue:mail", 0, -1)] == [
        ["pushed after the confirmation"]
    ]
    assert r.sismember("resque:queues", "mail")


def test_removing_a_queue_waits_for_a_confirmation_of_what_is_there(client, r):
    push(r, "mail", "Mailer", 1)
    page = client.get("/confirm", params={"do": "queue-remove", "queue": "mail"})
    assert "Remove queue mail and the 1 job waiting on it?" in page.text
    fields = hidden(page.text)
    push(r, "mail", "Mailer", 2)
    refused = client.post("/queues/remove", data=fields)
    assert "jobs were pushed to mail since the confirmation" in refused.text
    assert r.llen("resque:queue:mail") == 2
    done = client.post("/queues/remove", data=confirm(client, do="queue-remove", queue="mail"))
    assert "Removed queue mail and its 2 job(s)." in done.text
    assert not r.exists("resque:queue:mail") and not r.sismember("resque:queues", "mail")


# -- failed jobs: bulk changes act on what was confirmed --------------------------------------


def test_clear_all_n_keeps_the_failures_recorded_after_the_confirmation(client, r):
    push_failures(r, *[ruby_failure(cls=f"Old{i}") for i in range(3)])
    page = client.get("/failed")
    assert 'id="remove-matching">Clear all 3…' in page.text
    ask = client.get("/confirm", params={"do": "failed-remove", "back": "/failed"})
    assert "Clear all 3 failed jobs, of the 3 in the failed list now?" in ask.text
    push_failures(r, ruby_failure(cls="New"))
    done = client.post("/failed/remove", data=hidden(ask.text))
    assert "Removed 3 failed job(s) of the 3 confirmed." in done.text
    assert classes(r) == ["New"]


def test_retry_all_n_retries_only_the_confirmed(client, r):
    push_failures(r, ruby_failure(cls="A", queue="q"), ruby_failure(cls="B", queue="q"))
    fields = confirm(client, do="failed-retry")
    push_failures(r, ruby_failure(cls="C", queue="q"))
    done = client.post("/failed/retry", data=fields)
    assert "Retried 2 failed job(s) of the 2 confirmed." in done.text
    assert [json.loads(x)["class"] for x in r.lrange("resque:queue:q", 0, -1)] == ["A", "B"]


def test_a_list_changed_under_the_confirmation_is_left_alone(client, r):
    push_failures(r, ruby_failure(cls="A"), ruby_failure(cls="B"))
    fields = confirm(client, do="failed-remove")
    r.rpop("resque:failed")  # another tool removed the newest record meanwhile
    push_failures(r, ruby_failure(cls="C"))
    page = client.post("/failed/remove", data=fields)
    assert "the failed list changed since the confirmation" in page.text
    assert classes(r) == ["A", "C"]


def test_remove_these_acts_on_the_confirmed_matches(client, r):
    push_failures(r, *[ruby_failure(cls="A" if i % 2 else "B", queue="q") for i in range(6)])
    ask = client.get("/confirm", params={"do": "failed-remove", "class": "A"})
    assert (
        "Remove the 3 failed jobs matching this filter, of the 6 in the failed list now?"
        in ask.text
    )
    push_failures(r, ruby_failure(cls="A", error="after"))
    done = client.post("/failed/remove", data=hidden(ask.text))
    assert "Removed 3 failed job(s) of the 6 confirmed." in done.text
    assert classes(r) == ["B", "B", "B", "A"]


# -- failed jobs: search, columns, pages ------------------------------------------------------


def test_search_finds_text_in_class_queue_error_and_arguments(client, r):
    push_failures(
        r,
        ruby_failure(cls="Archive", error="disk full"),
        ruby_failure(cls="Mailer", args=["ada@example.com"], queue="mail"),
        ruby_failure(cls="Resize", error="Timeout while reading"),
        pyres_failure(),
    )

    def found(q):
        text = client.get("/failed", params={"q": q}).text
        return re.findall(r'<td><code>([\w.]+)</code></td>\s*<td class="args">', text)

    assert found("DISK") == ["Archive"]
    assert found("ada@") == ["Mailer"]
    assert found("timeout") == ["Resize"]
    assert found("no such address") == []  # backtraces are not searched
    assert found("mail") == ["jobs.Mailer", "Mailer"]  # queue mail, class jobs.Mailer
    assert "is a class" not in client.get("/failed", params={"q": "Mailer"}).text  # no index
    client.get("/failed?class=Archive")  # a filter builds the index
    page = client.get("/failed", params={"q": "Mailer"})
    assert (
        "“Mailer” is a class: " in page.text
        and '/failed?class=Mailer">1 failed job(s)' in page.text
    )


def test_search_reads_a_bounded_part_of_the_list_per_page(client, r, monkeypatch):
    monkeypatch.setattr(failed_pages, "CHUNK", 5)
    monkeypatch.setattr(failed_pages, "SCAN_BUDGET", 10)
    push_failures(r, ruby_failure(error="needle"), *[ruby_failure(error="hay") for i in range(40)])
    page = client.get("/failed", params={"q": "needle"})
    assert "No match among the records read" in page.text
    link = re.search(r'href="(/failed\?q=needle&amp;before=\d+)">read older records', page.text)
    hops = 0
    while "#0<" not in page.text:
        page = client.get(link.group(1).replace("&amp;", "&"))
        link = re.search(r'href="(/failed\?q=needle&amp;before=\d+)">read older records', page.text)
        hops += 1
        assert hops < 10
    assert "Showing 1 matching" in page.text


def test_the_failed_list_shows_arguments_worker_page_numbers_and_a_sane_end(client, r):
    push_failures(
        r, *[ruby_failure(args=[i, "x"], failed_at="2024/01/02 03:04:05 UTC") for i in range(95)]
    )
    page = client.get("/failed")
    assert "<code>[94, &#34;x&#34;]</code>" in page.text
    assert '<a href="/workers/rubyhost%3A77%3Ahigh"><code>rubyhost:77:high</code></a>' in page.text
    assert "2024-01-03 03:04:05 UTC" not in page.text and "2024-01-02 03:04:05 UTC" in page.text
    assert re.search(
        r"<strong aria-current=\"page\">1</strong>\s*<a href=\"/failed\?&amp;page=2\">2</a>",
        page.text,
    )
    assert 'max="5"' in page.text  # the jump form
    five = client.get("/failed?page=5")
    assert "Showing 81–95 of 95" in five.text
    past = client.get("/failed?start=400")
    assert "Page 21 is past the end: 95 in 5 page(s)." in past.text and "Showing" not in past.text


# -- a worker's page ------------------------------------------------------------------------


def test_a_worker_page_shows_its_history_and_stops_its_job(client, r):
    wid = register_worker(
        r,
        "web-1:4242:mail",
        processed=12,
        failed=2,
        job={"class": "Mailer", "args": [7]},
        queue="mail",
        run_at="2024-01-01T12:00:00Z",
    )
    mid = register_master(
        r,
        "web-1",
        4000,
        workers={"configured": 1, "running": 1, "pids": [4242]},
        replacements={"killed by SIGKILL": 1, "recycled after 5 jobs": 2},
        replaced_recently=[
            {"at": 1704110400, "pid": 4100, "queues": "mail", "reason": "killed by SIGKILL"},
            {"at": 1704110500, "pid": 4101, "queues": "other", "reason": "exit status 1"},
        ],
    )
    push_failures(r, ruby_failure(worker=wid, error="smtp down"), ruby_failure(error="not mine"))
    page = client.get(f"/workers/{wid}")
    text = page.text
    assert 'id="processed">12<' in text and "smtp down" in text and "not mine" not in text
    assert "killed by SIGKILL 1" in text and "4100" in text and "4101" not in text
    assert "2024-01-01 12:00:00 UTC" in text
    done = client.post(
        "/workers/stop-job",
        data=hidden(text.split('action="/workers/stop-job"')[1]) | {"csrf": csrf_in(text)},
    )
    assert "Asked master web-1:4000 to stop the job of worker 4242" in done.text
    [raw] = r.lrange(control_key(Keys(), mid), 0, -1)
    assert StopJob.decode(raw) == StopJob(wid, 4242, "2024-01-01T12:00:00Z")
    # The job ended meanwhile: nothing is asked.
    r.delete(f"resque:worker:{wid}")
    late = client.post(
        "/workers/stop-job", data={"worker": wid, "run_at": "1704110400.0", "csrf": csrf_in(text)}
    )
    assert "no longer runs the job shown" in late.text and r.llen(control_key(Keys(), mid)) == 1
    assert client.get("/workers/nobody:1:q").status_code == 404


# -- Redis ----------------------------------------------------------------------------------


def test_the_redis_page_shows_the_server_and_the_namespace_keys(r):
    store = Store(r, Keys("app[1]"))
    r.set("other:key", "not ours")
    for i in range(120):
        r.set(f"app[1]:stat:processed:w{i}", i)
    r.rpush("app[1]:queue:mail", payload("Mailer", 1), payload("Mailer", 2))
    with TestClient(create_app(store, None, 60), base_url=BASE) as c:
        page = c.get("/redis")
        assert "redis_version" in page.text and "used_memory_human" in page.text
        assert "connected_clients" in page.text and "db0" in page.text
        assert "Keys under <code>app[1]:</code>" in page.text and "other:key" not in page.text
        pages = [page.text]
        cursor = re.search(r'href="/redis\?cursor=(\d+)"', page.text)
        while cursor:
            pages.append(c.get(f"/redis?cursor={cursor.group(1)}").text)
            cursor = re.search(r'href="/redis\?cursor=(\d+)"', pages[-1])
            assert len(pages) < 20
        every = "".join(pages)
        assert len(set(re.findall(r"<tr><td><code>(app\[1\]:[^<]+)</code>", every))) == 121
        queue_row = '<tr><td><code>app[1]:queue:mail</code></td><td>list</td><td class="num">2</td>'
        assert queue_row in every
        r.config_set("slowlog-log-slower-than", 0)
        try:
            page = c.get("/redis")
        finally:
            r.config_set("slowlog-log-slower-than", 10000)
        assert "Slow log" in page.text and "<code>" in page.text.split("Slow log")[1]


# -- costs ----------------------------------------------------------------------------------


def _commands(c, r, path: str) -> int:
    r.config_resetstat()
    assert c.get(path).status_code == 200
    return sum(calls(r).values())


def test_each_new_view_costs_redis_by_its_page_not_by_the_data(client, r):
    def fill(n: int) -> None:
        for i in range(0, n, 500):
            pipe = r.pipeline()
            for j in range(i, min(n, i + 500)):
                pipe.rpush("resque:queue:big", payload("Job", j))
                pipe.set(f"resque:stat:processed:w{j}", j)
                pipe.sadd("resque:workers", f"host:{j + 10}:big")
            pipe.sadd("resque:queues", "big")
            pipe.execute()
        push_failures(r, *[ruby_failure(args=[i]) for i in range(n - r.llen("resque:failed"))])

    wid = "host:10:big"
    paths = [
        "/queues/big",
        "/queues/big?page=7",
        f"/workers/{wid}",
        "/redis",
        "/failed/3",
        "/confirm?do=queue-clear&queue=big",
    ]
    fill(300)
    small = {p: _commands(client, r, p) for p in paths}
    fill(3000)
    large = {p: _commands(client, r, p) for p in paths}
    # SCAN's pages vary a little: the Redis page is held to its bound instead.
    bound = redis_info.SCAN_CALLS + 4 * 2 * redis_page.PER_PAGE + 10
    assert small.pop("/redis") <= bound and large.pop("/redis") <= bound
    assert small == large, (small, large)


def test_the_chart_legend_has_now_average_and_peak():
    c = chart.build(
        [Rate(940.0, 2.0, 1.0), Rate(970.0, 6.0, 1.0), Rate(1000.0, 4.0, 1.0)], 1000.0, 60.0
    )
    assert (c.now_processed, c.avg_processed, c.peak_processed) == (4.0, 4.0, 6.0)
    assert (c.now_failed, c.avg_failed, c.peak_failed) == (1.0, 1.0, 1.0)
