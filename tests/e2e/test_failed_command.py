"""``resqued failed``: list, show, retry, remove and clear against a failed list written by
our worker, Ruby Resque (backtrace arrays, ``retried_at``) and pyres (``"exception":"type"``),
checking the effect on Redis is resque-web's."""

from __future__ import annotations

import json
import re

import pytest
from support.cli import Terminal, cli
from support.fleet import push_failures, pyres_failure, ruby_failure
from support.jobs import push
from support.procs import wait_for

FAILED = "resque:failed"
RETRIED_AT = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d UTC$")


def records(r) -> list[bytes]:
    return r.lrange(FAILED, 0, -1)


def ok(redis_url: str, *args: str) -> str:
    out = cli(redis_url, "failed", *args)
    assert out.returncode == 0 and not out.stderr, (out.stdout, out.stderr)
    return out.stdout


def refused(redis_url: str, *args: str, status: int = 1) -> str:
    out = cli(redis_url, "failed", *args)
    assert out.returncode == status and not out.stdout, (out.stdout, out.stderr)
    [line] = out.stderr.strip().splitlines()
    return line


@pytest.fixture
def mixed(r, resqued, app_dir):
    """#0, #1: our worker's (it keeps running on ``default``); #2 Ruby's; #3 Ruby's, retried
    before; #4 pyres's."""
    resqued("work", "-q", "default", "-r", "demo_jobs", "-i", "0.1", cwd=app_dir)
    push(r, "default", "Fail", "first")
    wait_for(lambda: r.llen(FAILED) == 1, 20, "our first failure")
    push(r, "default", "Fail", "second")
    wait_for(lambda: r.llen(FAILED) == 2, 20, "our second failure")
    push_failures(
        r,
        ruby_failure(),
        ruby_failure(
            cls="Mailers::Welcome",
            args=[7],
            queue="mail",
            exception="Net::ReadTimeout",
            error="timed out",
            retried_at="2024/01/02 08:00:00",
        ),
        pyres_failure(),
    )


def rows(text: str) -> list[str]:
    """The job numbers listed, in order."""
    return [line.split()[0] for line in text.splitlines() if line.startswith("  #")]


def test_list_filters_and_pages(mixed, redis_url):
    text = ok(redis_url, "list")
    lines = text.splitlines()
    assert lines[0] == "failed jobs: 1-5 of 5, newest first"
    assert rows(text) == ["#4", "#3", "#2", "#1", "#0"]
    assert lines[1].endswith("mail  jobs.Mailer  ValueError: type: <class 'ValueError'>")
    assert lines[2].endswith("Net::ReadTimeout: timed out  (retried 2024/01/02 08:00:00)")
    assert lines[3] == "  #2  2024/01/01 12:00:00 UTC  high  Archive  RuntimeError: boom"
    assert " default  Fail  RuntimeError: second" in lines[4]
    assert rows(ok(redis_url, "list", "--queue", "mail")) == ["#4", "#3"]
    assert rows(ok(redis_url, "list", "--class", "Fail")) == ["#1", "#0"]
    assert rows(ok(redis_url, "list", "--exception", "ValueError")) == ["#4"]  # pyres's "type"
    assert rows(ok(redis_url, "list", "--exception", "Net::ReadTimeout")) == ["#3"]
    assert rows(ok(redis_url, "list", "--retried")) == ["#3"]
    assert rows(ok(redis_url, "list", "--not-retried", "--queue", "mail")) == ["#4"]
    assert ok(redis_url, "list", "--queue", "nope") == "no failed jobs matching queue=nope\n"

    page = ok(redis_url, "list", "--start", "1", "--count", "2").splitlines()
    assert page[0] == "failed jobs: 2-3 of 5, newest first"
    assert rows("\n".join(page)) == ["#3", "#2"]
    assert page[-1] == "more: resqued failed list --start 3"
    assert "more:" not in ok(redis_url, "list", "--start", "3")

    doc = json.loads(ok(redis_url, "list", "--json", "--queue", "mail"))
    assert doc["format"] == 1 and doc["total"] == 2 and doc["start"] == 0
    pyres, ruby = doc["jobs"]
    assert pyres["index"] == 4 and pyres["exception"] == "ValueError" and pyres["args"] == [1]
    assert "ValueError: no such address" in pyres["backtrace"]
    assert pyres["failed_at"] == 1704110400.0 and pyres["retried_at"] is None
    assert ruby["class"] == "Mailers::Welcome" and ruby["retried_at"] == 1704182400.0
    assert ruby["retried_at_text"] == "2024/01/02 08:00:00" and len(ruby["digest"]) == 16
    ours = json.loads(ok(redis_url, "list", "--json", "--class", "Fail"))["jobs"][1]
    assert ours["index"] == 0 and ours["queue"] == "default" and ours["args"] == ["first"]
    assert ours["exception"] == "RuntimeError" and ours["error"] == "first"
    assert ours["worker"].endswith(":default") and ours["backtrace"]
    assert RETRIED_AT.match(ours["failed_at_text"]) and ours["raw"] is None


def test_show(mixed, redis_url):
    text = ok(redis_url, "show", "2")
    assert text.splitlines()[:3] == [
        "failed job #2",
        "  failed at   2024/01/01 12:00:00 UTC",
        "  queue       high",
    ]
    assert '  args        [35, "tar"]\n' in text and "  retried at  never\n" in text
    assert text.endswith(
        "  backtrace\n    /app/jobs/archive.rb:12:in `perform'\n    /gems/resque/job.rb:1:in `x'\n"
    )
    doc = json.loads(ok(redis_url, "show", "0", "--json"))
    assert (
        doc["class"] == "Fail" and doc["error"] == "first" and doc["payload"]["args"] == ["first"]
    )
    assert refused(redis_url, "show", "9") == "resqued: no failed job #9 (the failed list has 5)"


def test_retry_one_does_what_resque_web_does(mixed, r, redis_url):
    before = records(r)
    out = ok(redis_url, "retry", "2")
    assert out == "resqued: retried failed job #2 (Archive) on high\n"
    after = records(r)
    assert len(after) == 5 and after[:2] + after[3:] == before[:2] + before[3:]
    old, new = json.loads(before[2]), json.loads(after[2])
    assert RETRIED_AT.match(new.pop("retried_at")) and new == old  # LSET, record kept
    assert r.smembers("resque:queues") >= {b"high"}
    assert [json.loads(x) for x in r.lrange("resque:queue:high", 0, -1)] == [old["payload"]]

    # One of ours: our worker takes it again and records a second failure.
    ok(redis_url, "retry", "0")
    wait_for(lambda: r.llen(FAILED) == 6, 20, "the retried job to fail again")
    assert json.loads(records(r)[5])["error"] == "first"
    assert json.loads(records(r)[0])["retried_at"]


def test_retry_many_asks_first(mixed, r, redis_url):
    before = records(r)
    line = refused(redis_url, "retry", "--queue", "mail")
    assert line == (
        "resqued: refusing to retry 2 failed jobs (queue=mail) without --yes "
        "(stdin is not a terminal to ask)"
    )
    assert records(r) == before and not r.exists("resque:queue:mail")

    out = ok(redis_url, "retry", "--queue", "mail", "--yes")
    assert out == "resqued: retried 2 failed jobs (queue=mail)\n"
    queued = [json.loads(x)["class"] for x in r.lrange("resque:queue:mail", 0, -1)]
    assert queued == ["Mailers::Welcome", "jobs.Mailer"]  # oldest first, as resque-web
    for index in (3, 4):  # #3 again too: "retry" includes jobs retried before
        assert RETRIED_AT.match(json.loads(records(r)[index])["retried_at"])

    r.rpush(FAILED, b"not a JSON record")
    term = Terminal(redis_url, "failed", "retry", "--all")
    try:
        term.read_until(b"Retry 6 failed jobs (all)? [y/N] ")
        term.type("y\n")
        status, output = term.finish()
    finally:
        term.close()
    assert status == 0, output
    assert (
        "resqued: retried 5 failed jobs (all); 1 left alone (no queue or class, or changed meanwhile)"
        in output
    )
    assert r.llen("resque:queue:high") == 1 and r.llen("resque:queue:mail") == 4


def test_remove(mixed, r, redis_url):
    before = records(r)
    assert ok(redis_url, "remove", "2") == "resqued: removed failed job #2 (Archive)\n"
    assert records(r) == before[:2] + before[3:]
    assert refused(redis_url, "remove", "--class", "Fail").startswith(
        "resqued: refusing to remove 2 failed jobs (class=Fail) without --yes"
    )
    term = Terminal(redis_url, "failed", "remove", "--class", "Fail")
    try:
        term.read_until(b"Remove 2 failed jobs (class=Fail)? [y/N] ")
        term.type("yes\n")
        status, output = term.finish()
    finally:
        term.close()
    assert status == 0 and "resqued: removed 2 failed jobs (class=Fail)" in output
    assert records(r) == before[3:]
    assert ok(redis_url, "remove", "--exception", "ValueError", "--yes") == (
        "resqued: removed 1 failed job (exception=ValueError)\n"
    )
    assert records(r) == [before[3]]


def test_clear(mixed, r, redis_url):
    before = records(r)
    assert "refusing to delete all 5 failed jobs without --yes" in refused(redis_url, "clear")
    term = Terminal(redis_url, "failed", "clear")
    try:
        term.read_until(b"Delete all 5 failed jobs? [y/N] ")
        term.type("n\n")
        status, output = term.finish()
    finally:
        term.close()
    assert status == 1 and "resqued: not confirmed: nothing changed" in output
    assert records(r) == before
    assert ok(redis_url, "clear", "--yes") == "resqued: cleared the failed list (5 failed jobs)\n"
    assert not r.exists(FAILED)
    assert ok(redis_url, "clear") == "resqued: the failed list is empty\n"


def test_a_digest_guards_against_a_list_changed_meanwhile(mixed, r, redis_url):
    digest = json.loads(ok(redis_url, "show", "3", "--json"))["digest"]
    ok(redis_url, "remove", "1")  # another operator: #3 is now what was #4
    before = records(r)
    line = refused(redis_url, "retry", "3", "--digest", digest)
    assert line == "resqued: failed job #3 changed since it was shown; look again"
    assert records(r) == before and not r.exists("resque:queue:mail")
    assert refused(redis_url, "remove", "3", "--digest", digest).endswith("look again")
    assert records(r) == before
    ok(redis_url, "retry", "2", "--digest", digest)  # where that record is now
    assert r.llen("resque:queue:mail") == 1


@pytest.mark.parametrize(
    ("args", "cause"),
    [
        (["retry"], "give one of: a job number N, a filter"),
        (["retry", "1", "--all"], "give one of: a job number N, a filter"),
        (["remove", "1", "--queue", "q"], "give one of: a job number N, a filter"),
        (["remove", "--all"], "unrecognized arguments: --all"),
        (["remove", "--queue", "q", "--digest", "ab"], "--digest goes with a job number N"),
        (["show", "x"], "'x' is not a failed job's number"),
        (["list", "--count", "-1"], "argument --count: '-1' is not a whole number >= 0"),
        (["list", "--retried", "--not-retried"], "not allowed with argument"),
        (["retrt"], "invalid choice: 'retrt'"),
        ([], "the following arguments are required: ACTION"),
    ],
)
def test_usage_errors_are_one_line(redis_url, args, cause):
    line = refused(redis_url, *args, status=2)
    assert line.startswith("resqued failed") and cause in line and line.endswith("(see --help)")


def test_every_action_has_help(redis_url):
    for action in ("list", "show", "retry", "remove", "clear"):
        out = cli(redis_url, "failed", action, "--help")
        assert out.returncode == 0 and f"usage: resqued failed {action}" in out.stdout
    listed = cli(redis_url, "failed", "--help").stdout
    assert all(f"\n    {action} " in listed for action in ("list", "show", "retry", "remove"))


def test_control_characters_in_records_never_reach_the_terminal(r, redis_url):
    push_failures(
        r,
        ruby_failure(cls="Evil\x1b[2J", queue="q\x9b1m", error="one\x1b]0;title\x07\ntwo"),
        b"\x1b[31mnot json",
    )
    r.sadd("resque:queues", "q\x1b[5m")
    listed = ok(redis_url, "list")
    shown = ok(redis_url, "show", "0") + ok(redis_url, "show", "1")
    status = cli(redis_url, "status").stdout
    queues = cli(redis_url, "queues").stdout
    for text in (listed, shown, status, queues):
        assert not any(c in text for c in "\x1b\x07\x9b"), repr(text)
    assert "Evil\\x1b[2J  RuntimeError: one\\x1b]0;title\\x07" in listed
    assert "(not a JSON record) \\x1b[31mnot json" in listed
    assert (
        "  queue       q\\x9b1m\n" in shown
        and "  error       one\\x1b]0;title\\x07\\x0atwo\n" in shown
    )
    assert "Evil\\x1b[2J" in status and "  q\\x1b[5m  " in queues
