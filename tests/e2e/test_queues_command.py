"""``resqued queues`` and ``resqued queues clear NAME``: Resque.remove_queue's effect."""

from __future__ import annotations

import json

from support.cli import Terminal, cli
from support.jobs import push
from support.procs import wait_for


def queued(r) -> None:
    for n in range(3):
        push(r, "high", "Record", f"h{n}")
    push(r, "low", "Record", "l0")
    r.sadd("resque:queues", "empty")


def test_queues_lists_depths(r, redis_url):
    queued(r)
    for args in (["queues"], ["queues", "list"]):
        out = cli(redis_url, *args)
        assert out.returncode == 0 and not out.stderr
        assert out.stdout == (
            "queues (3), 4 jobs pending\n  empty        0\n  high         3\n  low          1\n"
        )
    doc = json.loads(cli(redis_url, "queues", "--json").stdout)
    assert doc == {
        "format": 1,
        "pending": 4,
        "queues": [
            {"name": "empty", "depth": 0},
            {"name": "high", "depth": 3},
            {"name": "low", "depth": 1},
        ],
    }
    r.flushall()
    assert cli(redis_url, "queues").stdout == "queues (0), 0 jobs pending\n"


def test_escaped_queue_names_stay_aligned(r, redis_url):
    """A control character is printed as four characters (\\x1b): the column counts them."""
    push(r, "evil\x1b[2J", "Record", 1)
    push(r, "plain-queue", "Record", 1)
    out = cli(redis_url, "queues").stdout.splitlines()
    assert out[1:] == ["  evil\\x1b[2J        1", "  plain-queue        1"]
    assert len({len(line) for line in out[1:]}) == 1


def test_failed_list_help_speaks_of_offsets(redis_url):
    text = " ".join(cli(redis_url, "failed", "list", "--help").stdout.split())
    assert "--start OFFSET start at this offset in the matches, newest first" in text


def test_clear_asks_then_does_what_resque_remove_queue_does(r, redis_url, resqued, app_dir):
    queued(r)
    out = cli(redis_url, "queues", "clear", "high")
    assert out.returncode == 1 and not out.stdout
    assert out.stderr == (
        "resqued: refusing to remove queue 'high' and the 3 jobs on it without --yes "
        "(stdin is not a terminal to ask)\n"
    )
    assert r.llen("resque:queue:high") == 3
    term = Terminal(redis_url, "queues", "clear", "high")
    try:
        term.read_until(b"Remove queue 'high' and the 3 jobs on it? [y/N] ")
        term.type("y\n")
        status, output = term.finish()
    finally:
        term.close()
    assert status == 0 and "resqued: removed queue 'high' (3 jobs dropped)" in output
    assert r.smembers("resque:queues") == {b"low", b"empty"}
    assert not r.exists("resque:queue:high") and r.llen("resque:queue:low") == 1

    # A worker that names it keeps working; the queue comes back with the next job.
    resqued("work", "-q", "high", "-r", "demo_jobs", "-i", "0.1", cwd=app_dir)
    push(r, "high", "Record", "after")
    wait_for(lambda: r.lrange("record", 0, -1), 20, "the job pushed after the clear")
    assert r.lrange("record", 0, -1)[0].startswith(b"after:")
    assert b"high" in r.smembers("resque:queues")

    out = cli(redis_url, "queues", "clear", "empty", "--yes")
    assert out.returncode == 0 and out.stdout == "resqued: removed queue 'empty' (0 jobs dropped)\n"


def test_clear_errors_are_one_line(r, redis_url):
    out = cli(redis_url, "queues", "clear", "nope", "--yes")
    assert (
        out.returncode == 1
        and out.stderr == "resqued: no queue named 'nope' (see resqued queues)\n"
    )
    out = cli(redis_url, "queues", "clear")
    assert out.returncode == 2 and "the following arguments are required: NAME" in out.stderr
    out = cli(redis_url, "queues", "--yes")
    assert out.returncode == 2 and "unrecognized arguments: --yes" in out.stderr
    for args in (["queues", "--help"], ["queues", "clear", "--help"]):
        assert cli(redis_url, *args).returncode == 0
