"""``resqued failed list/retry/remove`` with a filter on a list of thousands of records: the
right records change and no other, Ruby's records stay Ruby's, Ruby's own changes between
commands are followed, and Redis's command counts show no whole-list LREM loop or scan."""

from __future__ import annotations

import json

import pytest
from support.cli import cli
from support.failed_list import FAILED, calls, push_many, record, ruby_remove, ruby_retry
from support.fleet import pyres_failure

N = 4000  # eight blocks of the index


def kind(i: int) -> tuple[str, str]:
    if i % 400 == 17:
        return "Sparse", "mail"
    if i % 7 == 0:
        return "Mass", "bulk"
    return "Other", "high"


@pytest.fixture
def many(r) -> list[bytes]:
    recs = [record(i, *kind(i)) for i in range(N)]
    recs[1234] = pyres_failure(cls="jobs.Mailer", queue="mail")
    recs[2345] = b"not a JSON record"
    push_many(r, recs)
    return recs


def ok(redis_url: str, *args: str) -> str:
    out = cli(redis_url, "failed", *args)
    assert out.returncode == 0 and not out.stderr, (out.stdout, out.stderr)
    return out.stdout


def listed(redis_url: str, *args: str) -> dict:
    return json.loads(ok(redis_url, "list", "--json", *args))


def test_a_filtered_page_reads_the_blocks_of_its_matches(many, r, redis_url):
    assert (
        ok(redis_url, "index")
        == "resqued: the failed list index covers 4000 failed jobs in 8 blocks\n"
    )
    r.config_resetstat()
    doc = listed(redis_url, "--class", "Sparse", "--count", "3")
    assert [j["index"] for j in doc["jobs"]] == [3617, 3217, 2817]
    assert doc["total"] == 10 and doc["exact"] and doc["more"] is None
    assert [j["args"][0] for j in doc["jobs"]] == [3617, 3217, 2817]
    used = calls(r)
    assert used["lrange"] == 3 and used["lrem"] == 0 and used["lset"] == 0  # blocks 7, 6, 5 of 8
    text = ok(redis_url, "list", "--class", "Sparse", "--count", "3")
    assert text.splitlines()[0] == "failed jobs matching class=Sparse: 1-3 of 10, newest first"
    assert text.splitlines()[-1] == "more: resqued failed list --class Sparse --start 3"
    pyres = listed(redis_url, "--exception", "ValueError")  # pyres's "type", read from its trace
    assert [j["index"] for j in pyres["jobs"]] == [1234]


def test_remove_by_filter_takes_out_exactly_the_matches_in_one_pass(many, r, redis_url):
    r.config_resetstat()
    mass = sum(1 for i in range(N) if kind(i)[0] == "Mass" and i not in (1234, 2345))
    out = ok(redis_url, "remove", "--class", "Mass", "--yes")
    assert out == f"resqued: removed {mass} failed jobs (class=Mass)\n"
    left = [x for i, x in enumerate(many) if kind(i)[0] != "Mass" or i in (1234, 2345)]
    assert r.lrange(FAILED, 0, -1) == left  # the others untouched, byte for byte, in order
    used = calls(r)
    assert used["lrem"] <= 2 and used["lset"] == mass  # resque-web: one LREM per record
    for raw in left:
        if raw != b"not a JSON record":
            assert json.loads(raw)["payload"]["class"] in ("Sparse", "Other", "jobs.Mailer")
    doc = listed(redis_url, "--queue", "bulk")
    assert doc["total"] == 0 and doc["jobs"] == []


def test_retry_by_filter_changes_only_the_matches(many, r, redis_url):
    r.config_resetstat()
    out = ok(redis_url, "retry", "--queue", "mail", "--yes")
    assert out == "resqued: retried 11 failed jobs (queue=mail)\n"
    after = r.lrange(FAILED, 0, -1)
    mail = [i for i in range(N) if kind(i)[1] == "mail" and i != 2345] + [1234]
    for i, (old, new) in enumerate(zip(many, after, strict=True)):
        if i in mail:
            doc = json.loads(new)
            assert new == old[:-1] + b',"retried_at":"' + doc["retried_at"].encode() + b'"}'
        else:
            assert new == old
    pushed = [json.loads(x)["args"][0] for x in r.lrange("resque:queue:mail", 0, -1)]
    assert pushed == [json.loads(many[i])["payload"]["args"][0] for i in sorted(mail)]
    used = calls(r)
    assert used["lrem"] == 0 and used["lset"] == 11 and used["rpush"] == 11
    doc = listed(redis_url, "--queue", "mail", "--not-retried")
    assert doc["jobs"] == [] and doc["total"] == 0


def test_ruby_changes_between_commands_are_followed(many, r, redis_url):
    ok(redis_url, "index")
    ruby_remove(r, 100)  # resque-web's Remove: every record after it moves down
    ruby_retry(r, 3616)  # resque-web's Retry of a Sparse record (now #3616)
    push_many(r, [record(N + i, "Sparse", "mail") for i in range(3)])  # Ruby workers
    doc = listed(redis_url, "--class", "Sparse")
    want = [N + 1, N, N - 1, 3616, 3216, 2816, 2416, 2016, 1616, 1216, 816, 416, 17]
    assert [j["index"] for j in doc["jobs"]] == want and doc["total"] == 13
    assert doc["jobs"][3]["retried_at_text"] == "2024/02/01 10:00:00"
    removed = ok(redis_url, "remove", "--class", "Sparse", "--yes")
    assert removed == "resqued: removed 13 failed jobs (class=Sparse)\n"
    assert r.llen(FAILED) == N - 1 + 3 - 13
    assert not any(
        json.loads(x).get("payload", {}).get("class") == "Sparse"
        for x in r.lrange(FAILED, 0, -1)
        if x != b"not a JSON record"
    )


def test_a_filter_without_a_count_pages_with_before(many, r, redis_url):
    for i in (10, 2000, 3990):
        ruby_retry(r, i)
    first = listed(redis_url, "--retried", "--count", "2")
    assert [j["index"] for j in first["jobs"]] == [3990, 2000]
    text = ok(redis_url, "list", "--retried", "--count", "2")
    assert text.splitlines()[0] == "failed jobs matching retried: 2 shown, newest first"
    assert text.splitlines()[-1] == "more: resqued failed list --retried --before 2000"
    rest = listed(redis_url, "--retried", "--count", "2", "--before", "2000")
    assert [j["index"] for j in rest["jobs"]] == [10] and rest["more"] is None


def test_the_failed_views_bench_measures_every_view(r, redis_url):
    from bench.failed_views import measure

    rows = measure(redis_url, [3000])
    views = [row[0] for row in rows]
    assert len(views) == len(set(views)) >= 12 and all(row[1] == 3000 for row in rows)
    for view, _size, seconds, commands, cpu, slowest in rows:
        assert seconds > 0 and commands > 0 and cpu >= 0 and slowest >= 0, view
    assert r.llen(FAILED) == 0 and not list(r.scan_iter("resque:resqued:failed:idx*"))
