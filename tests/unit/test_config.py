"""Configuration: the DSL, resque-pool YAML, flags, and the allocation of queues to workers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from resqued.config import load
from resqued.config.allocation import format_table, worker_table
from resqued.config.model import Config, Overrides, QueueRule, WorkerRow
from resqued.config.values import cli_queue, parse_bind, queue_rule
from resqued.errors import ConfigError, ResquedError


def table(n: int | None, *rules: QueueRule, workers: list[WorkerRow] | None = None) -> list[str]:
    config = Config(worker_processes=n, queue_rules=list(rules), workers=workers or [])
    return [slot.queue_list for slot in worker_table(config)]


Q = QueueRule


@pytest.mark.parametrize(
    ("n", "rules", "expected"),
    [
        # the seed's example: -n 32 --queue high=20
        (32, [Q("high", count=20)], ["high"] * 20 + ["*"] * 12),
        # resque-pool-style pool of 5: low 20%, normal 60%, *
        (
            5,
            [Q("low", share=0.2), Q("normal", share=0.6), Q("*")],
            ["low,normal,*", "normal,*", "normal,*", "*", "*"],
        ),
        # resqued README: critical on all, high 20, low 10% (3 of 32), * on all
        (
            32,
            [Q("critical"), Q("high", count=20), Q("low", share=0.1), Q("*")],
            ["critical,high,low,*"] * 3 + ["critical,high,*"] * 17 + ["critical,*"] * 12,
        ),
        # a share rounds down ...
        (10, [Q("a", share=0.25)], ["a"] * 2 + ["*"] * 8),
        # ... but never below one worker
        (3, [Q("a", share=0.01)], ["a", "*", "*"]),
        # a fixed count above the pool is the pool
        (2, [Q("a", count=5)], ["a", "a"]),
        (4, [Q("a", count=0)], ["*"] * 4),
        # declaration order is priority
        (2, [Q("low"), Q("high", count=1)], ["low,high", "low"]),
        # nothing declared: one worker on every queue
        (None, [], ["*"]),
        (0, [Q("a")], []),
        # 100% is every worker
        (4, [Q("a", share=1.0)], ["a"] * 4),
    ],
)
def test_allocation(n, rules, expected):
    assert table(n, *rules) == expected


def test_explicit_workers_come_first_and_need_no_pool():
    workers = [WorkerRow(("mail",)), WorkerRow(("import", "export"))]
    assert table(None, workers=workers) == ["mail", "import,export"]
    assert table(2, Q("x"), workers=workers) == ["mail", "import,export", "x", "x"]


def test_format_table_numbers_every_worker():
    text = format_table(worker_table(Config(worker_processes=3, queue_rules=[Q("a", count=1)])))
    assert text.splitlines() == ["#  queues", "1  a", "2  *", "3  *", "3 workers"]


@pytest.mark.parametrize(
    ("spec", "rule"),
    [
        ("high", Q("high")),
        ("high=20", Q("high", count=20)),
        ("low=10%", Q("low", share=0.1)),
        ("low=0.25", Q("low", share=0.25)),
        ("low=100%", Q("low", share=1.0)),
    ],
)
def test_cli_queue(spec, rule):
    assert cli_queue(spec) == rule


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("high=", "missing amount"),
        ("high=abc", "invalid amount"),
        ("high=-2", "negative"),
        ("low=0%", "share"),
        ("low=150%", "share"),
        ("a,b=1", "invalid queue name"),
        ("low=x%", "invalid percentage"),
    ],
)
def test_cli_queue_errors(spec, message):
    with pytest.raises(ConfigError, match=message):
        cli_queue(spec)


def test_dsl_queue_amount_forms():
    assert queue_rule("a", 20) == Q("a", count=20)
    assert queue_rule("a", 0.10) == Q("a", share=0.10)
    assert queue_rule("a", "10%") == Q("a", share=0.10)
    assert queue_rule("a", "all") == Q("a")


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_dsl_file_evaluates_into_plain_data(tmp_path):
    path = write(
        tmp_path,
        "resqued.conf.py",
        """
worker_processes(32)
queue("critical")
queue("high", 20)
queue("low", 0.10)
queue("*")
worker("mail", "default", interval=1)
workload(["import", "import,export"])
preload_app(True)
stdout_path("/tmp/out.log")
interval(2)
jobs_per_fork(100)
threads(4)
require("myapp.jobs")

@before_fork
def bf():
    pass

@after_fork
def af(worker):
    pass
""",
    )
    c = load(Overrides(config_files=[path]))
    assert c.worker_processes == 32 and c.preload_app and c.stdout_path == "/tmp/out.log"
    assert [r.describe() for r in c.queue_rules] == ["critical", "high=20", "low=10%", "*"]
    assert [w.queue_list for w in c.workers] == ["mail,default", "import", "import,export"]
    assert c.workers[0].interval == 1.0 and c.interval == 2.0
    assert c.jobs_per_fork == 100 and c.threads == 4 and c.requires == ["myapp.jobs"]
    assert [f.__name__ for f in c.hooks["before_fork"]] == ["bf"]
    assert [f.__name__ for f in c.hooks["after_fork"]] == ["af"]
    assert len(worker_table(c)) == 35


def test_flags_override_and_extend_files(tmp_path):
    path = write(tmp_path, "c.py", 'worker_processes(4)\nqueue("a", 1)\n')
    c = load(Overrides({"worker_processes": 8, "queue_rules": [Q("b", count=2)]}, [path]))
    assert c.worker_processes == 8
    assert [r.name for r in c.queue_rules] == ["a", "b"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("worker_processes(2)\nqueue('a', 'abc%')\n", r"c\.py:2: queue 'a': invalid percentage"),
        ("worker_processes(-1)\n", r"c\.py:1: worker_processes must not be negative"),
        ("worker_processes(2\n", r"c\.py:1: syntax error"),
        ("\n\nundefined_thing()\n", r"c\.py:3: NameError"),
        ("queue('a', True)\n", r"c\.py:1: queue 'a': amount"),
    ],
)
def test_dsl_errors_name_file_line_and_reason(tmp_path, text, message):
    path = write(tmp_path, "c.py", text)
    with pytest.raises(ConfigError, match=message):
        load(Overrides(config_files=[path]))


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file .*nope.py"):
        load(Overrides(config_files=[str(tmp_path / "nope.py")]))


POOL_YAML = """
foo: 1
bar: 2
"foo,bar,baz": 1

production:
  "foo,bar,baz": 4
"""


def test_resque_pool_yaml_with_environments(tmp_path, monkeypatch):
    path = write(tmp_path, "resque-pool.yml", POOL_YAML)
    for var in ("RESQUE_ENV", "RAILS_ENV", "RACK_ENV"):
        monkeypatch.delenv(var, raising=False)
    dev = load(Overrides(config_files=[path]))
    assert [w.queue_list for w in worker_table(dev)] == ["foo", "bar", "bar", "foo,bar,baz"]
    monkeypatch.setenv("RAILS_ENV", "production")
    prod = load(Overrides(config_files=[path]))
    assert [w.queue_list for w in worker_table(prod)] == ["foo", "bar", "bar"] + ["foo,bar,baz"] * 4
    monkeypatch.setenv("RESQUE_ENV", "staging")  # resque-pool's order: RAILS_ENV beats it
    assert len(worker_table(load(Overrides(config_files=[path])))) == 7
    monkeypatch.setenv("RACK_ENV", "staging")  # RACK_ENV beats both; no such section: defaults
    assert len(worker_table(load(Overrides(config_files=[path])))) == 4
    explicit = load(Overrides(config_files=[path], environment="production"))
    assert len(worker_table(explicit)) == 7


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("foo: [1\n", r"resque-pool\.yml:\d+: invalid YAML"),
        ("- a\n- b\n", "expected a mapping"),
        ("foo: many\n", "workers for 'foo' must be a whole number"),
    ],
)
def test_yaml_errors(tmp_path, text, message):
    path = write(tmp_path, "resque-pool.yml", text)
    with pytest.raises(ConfigError, match=message):
        load(Overrides(config_files=[path]))


def test_overrides_round_trip_through_json():
    o = Overrides(
        {
            "worker_processes": 3,
            "queue_rules": [Q("a", share=0.5)],
            "workers": [WorkerRow(("x", "y"), 2.0)],
        },
        ["/c.py"],
        "production",
    )
    back = Overrides.from_json(o.to_json())
    assert back == o


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:9100", ("127.0.0.1", 9100)),
        ("0.0.0.0:9100", ("0.0.0.0", 9100)),
        ("[::1]:9100", ("::1", 9100)),
        (":9100", ("127.0.0.1", 9100)),  # loopback, for --metrics as for web --bind
        ("9100", ("127.0.0.1", 9100)),
    ],
)
def test_one_bind_parser_and_a_missing_host_is_loopback(text, expected):
    assert parse_bind(text, "metrics address") == expected
    assert parse_bind(text, "bind address", 5678) == expected


@pytest.mark.parametrize("text", ["host", "127.0.0.1:notaport", "h:0", "h:65536", "[::1", "::1"])
def test_a_bind_without_a_usable_port_says_why(text):
    with pytest.raises(ResquedError, match=re.escape(f"invalid metrics address {text!r}")):
        parse_bind(text, "metrics address")


def test_a_metrics_address_is_checked_with_the_config():
    with pytest.raises(ResquedError, match="the port must be a number from 1 to 65535"):
        load(Overrides({"metrics": ":99999"}))
