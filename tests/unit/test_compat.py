"""The compat layer's decisions: DSL spellings, hook forms, resque_starter's Ruby subset,
resque-pool's flags and stop table, the master's signal modes, and their error messages."""

from __future__ import annotations

import logging
import os
import signal
import tomllib
from pathlib import Path

import pytest
from support import ROOT

from resqued import ipc
from resqued.cli.resque_pool import apply_flag, parser, stop_table
from resqued.cli.work_pool import count_from_env
from resqued.config import load
from resqued.config.allocation import worker_table
from resqued.config.compat import Compat, apply, relay_names, shift_age
from resqued.config.compat_queues import default_queues
from resqued.config.model import Config, Overrides
from resqued.config.view import MasterView
from resqued.errors import ConfigError, ResquedError
from resqued.listener.compat import ProcessStatus
from resqued.listener.exits import ExitSummary
from resqued.master import compat as master_compat
from resqued.master import pool_killer
from resqued.master.log_rotation import Rotation, from_view
from resqued.master.replace_file import read as read_state


def evaluate(tmp_path: Path, text: str, name: str = "c.py") -> Config:
    path = tmp_path / name
    path.write_text(text)
    return load(Overrides(config_files=[str(path)]))


def rows(config: Config) -> list[str]:
    return [slot.queue_list for slot in worker_table(config)]


# -- Ruby resqued's DSL spellings --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('worker_pool(3, "a", "b")', ["a,b"] * 3),
        ('worker_pool(4)\nqueue("x", percent=50)', ["x", "x", "*", "*"]),
        ('worker_pool(4)\nqueue("x", count=1)\nqueue("*")', ["x,*", "*", "*", "*"]),
        ('worker_pool(2)\nqueue("a", "b", count=1)', ["a,b", "*"]),
        ('worker_pool(2)\nqueue(["a", "b"])', ["a,b", "a,b"]),
        ('queue("early")\nworker_pool(1, "late")', ["late"]),  # worker_pool starts afresh
        ('worker_processes(2)\nqueue("high", 1)\nqueue("low", "50%")', ["high,low", "*"]),
        ('concurrency(2)\nqueues(["high", "low"])', ["high,low"] * 2),  # resque_starter
        ('worker(["a", "b"])\nworker("c", "d")', ["a,b", "c,d"]),
    ],
)
def test_ruby_resqued_and_starter_spellings(tmp_path, text, expected):
    assert rows(evaluate(tmp_path, text)) == expected


def test_worker_pool_interval_is_the_pool_workers_own(tmp_path):
    config = evaluate(tmp_path, 'worker("solo")\nworker_pool(2, interval=1)\ninterval(7)')
    intervals = [slot.interval for slot in worker_table(config)]
    assert intervals == [None, 1.0, 1.0]  # the solo worker keeps the general interval (7)


def test_shuffle_queues_keeps_the_names(tmp_path):
    config = evaluate(tmp_path, 'worker("a", "b", "c", shuffle_queues=True)')
    assert sorted(worker_table(config)[0].queues) == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('queue("a", percent=5, count=1)', r"c\.py:1: queue: give percent= or count=, not both"),
        ('queue("a", percent="x")', r"c\.py:1: queue: percent must be a number"),
        ("queue(3)", r"c\.py:1: a queue name must be a string, not 3"),
        ("@before_fork\ndef f(a, b):\n    pass", r"c\.py:1: before_fork hook f must take no arg"),
        ("@after_fork\ndef f(a, b):\n    pass", r"after_fork hook f must take \(worker\), or \(st"),
        ("@after_spawn\ndef f(a):\n    pass", r"after_spawn hook f must take \(worker, pid, work"),
        ('relay_signals("HUP")', r"c\.py:1: relay_signals: 'HUP' cannot be relayed"),
        ('log_shift_age("yearly")', "log_shift_age must be a count, daily, weekly or monthly"),
        ('log_level("loud")', "log_level must be one of debug, info, warn, error, fatal"),
        ('logger("stdout")', "logger must be a logging.Logger"),
        ("config_loader(42)", "config_loader needs a function or an object with call"),
        (
            "@setup\ndef s(forker):\n    forker.workload = 'a'",
            r"c\.py:3: .*workload must be a list",
        ),
    ],
)
def test_compat_names_fail_with_file_line_and_reason(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        evaluate(tmp_path, text)


def test_hooks_are_called_in_their_forms(tmp_path):
    seen = tmp_path / "seen"
    config = evaluate(
        tmp_path,
        f"def note(*what):\n    open({str(seen)!r}, 'a').write(repr(what) + '\\n')\n"
        "@before_fork\ndef plain():\n    note('bf')\n"
        "@before_fork\ndef starter(s, w, nr):\n    note('bf3', s, w, nr)\n"
        "@after_fork\ndef one(w):\n    note('af', w)\n"
        "@after_prefork\ndef pool(w):\n    note('prefork', w)\n"
        "@after_fork\ndef three(s, w, nr):\n    note('af3', s, w, nr)\n"
        "@after_exit\ndef old(pid, status):\n    note('ae', pid, status)\n"
        "@teardown\ndef bye(forker):\n    note('td', forker)\n",
    )
    for fn in config.hooks["before_fork"]:
        fn("S", "W", 1)
    for fn in config.hooks["after_fork"]:
        fn("W", "S", 1)
    for fn in config.hooks["after_exit"]:
        fn(ExitSummary(42, 0, 0, None, 1.0, "q", "exited"))
    for fn in config.hooks["teardown"]:
        fn("F")
    assert seen.read_text().splitlines() == [
        "('bf',)",
        "('bf3', 'S', 'W', 1)",
        "('af', 'W')",
        "('prefork', 'W')",
        "('af3', 'S', 'W', 1)",
        "('ae', 42, 0)",
        "('td', 'F')",
    ]
    assert [f.__name__ for f in config.hooks["after_fork"]] == ["one", "pool", "three"]


def test_forker_setup_writes_the_config(tmp_path):
    config = evaluate(
        tmp_path,
        "import logging\n"
        "@setup\n"
        "def load(forker):\n"
        '    forker.workload = ["import", "import,export"] * 2\n'
        '    forker.user("nobody", "nogroup")\n'
        "    forker.options.interval = 2\n"
        "    forker.verbose = True\n"
        "    forker.terminate = 9\n"
        '    forker.logger = logging.getLogger("myapp")\n',
    )
    assert rows(config) == ["import", "import,export"] * 2
    assert (config.user, config.group, config.interval) == ("nobody", "nogroup", 2.0)
    assert config.compat.verbose and config.compat.terminate == 9.0
    assert config.compat.logger is logging.getLogger("myapp")


def test_after_exit_summary_has_rubys_process_status():
    killed = ExitSummary(7, signal.SIGKILL, None, signal.SIGKILL, 0.5, "q", "killed by SIGKILL")
    status = killed.process_status
    assert (status.pid, status.exitstatus, status.termsig) == (7, None, signal.SIGKILL)
    assert status.signaled() and not status.exited() and status.success() is None
    assert str(status) == "pid 7 SIGKILL (signal 9)"
    ok = ProcessStatus(8, 3 << 8)
    assert (ok.exitstatus, ok.success(), str(ok), ok.to_i()) == (3, False, "pid 8 exit 3", 768)


# -- resque_starter's Ruby config ----------------------------------------------------------


STARTER_RB = """\
concurrency ENV.fetch('RS_CONCURRENCY', 2).to_i # a comment
pid_file ::File.expand_path('../../tmp/pids/x.pid', __FILE__)
status_file File.join(Dir.pwd, "tmp", '/pids/x.stat')
queues %w(high low)
dequeue_interval (ENV['RS_INTERVAL'] || 0.5).to_f
preload_app false
logger ::ResqueStarter::Logger.new('log/x.log', 3, 4096)
logger.level = ::Logger::WARN
logger.formatter = ResqueStarter::Logger::Formatter.new
require ::File.expand_path('../../config/environment', __FILE__)
before_fork { |starter, worker, worker_nr| puts "{}" }
after_fork do |starter, worker, worker_nr|
  if defined?(ActiveRecord::Base)
    ActiveRecord::Base.establish_connection
  end
end
"""


def test_resque_starter_ruby_subset(tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RS_INTERVAL", "0.25")
    (tmp_path / "example").mkdir()
    config = evaluate(tmp_path, STARTER_RB, "example/resque.conf.rb")
    assert config.worker_processes == 2
    assert config.pidfile == str(tmp_path / "tmp" / "pids" / "x.pid")
    assert config.compat.status_file == f"{tmp_path}/tmp/pids/x.stat"
    assert [q.name for q in config.queue_rules] == ["high", "low"]
    assert (config.interval, config.preload_app) == (0.25, False)
    assert (config.stderr_path, config.compat.log_shift_age, config.compat.log_shift_size) == (
        "log/x.log",
        3,
        4096,
    )
    assert config.compat.log_level == "warn"
    skipped = [r.getMessage() for r in caplog.records]
    assert len(skipped) == 4 and all("Ruby code" in m for m in skipped)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("concurency 3", r"x\.rb:1: 'concurency' is not a setting resqued reads from a Ruby file"),
        ('pid_file "tmp/#{name}.pid"', r"x\.rb:1: string interpolation"),
        ("concurrency Etc.nprocessors", r"x\.rb:1: unsupported name 'Etc' in"),
        ("queues ['a', 'b'].shuffle", r"x\.rb:1: unsupported method \.shuffle"),
        ("after_fork do |s, w, n|\n  x\n", r"x\.rb:1: the block has no end"),
        ("Rails.application.eager_load!", r"x\.rb:1: .* write this config in Python \(docs/"),
        ("worker_factory { |q| Resque::Worker.new(*q) }", r"x\.rb:1: worker_factory is Ruby code"),
        ("queue 'x', weight: 2", r"x\.rb:1: queue: unknown option in \"'x', weight: 2\""),
        ("worker 'x', interval: 1, 'y'", r"x\.rb:1: expected an option \(name: value\)"),
        ("2.times { worker 'x'", r"x\.rb:1: \"worker 'x'\": expected the loop's body on lines"),
        ("3.times do\n  worker 'x'\n", r"x\.rb:1: the block has no end"),
        ("concurrency ENV.fetch('RS_NOT_SET')", r"x\.rb:1: ENV\.fetch: 'RS_NOT_SET' is not set"),
    ],
)
def test_resque_starter_ruby_errors_name_the_line(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        evaluate(tmp_path, text, "x.rb")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("worker 'a', 'b'\nworker", ["a,b", "*"]),
        ("worker 'a', interval: 1\nworker('b', :interval => 2)", ["a", "b"]),
        ("worker_pool 3, 'a', 'b'", ["a,b"] * 3),
        ("worker_pool 4, interval: 1\nqueue 'x', percent: 50\nqueue '*'", ["x,*", "x,*", "*", "*"]),
        ("worker_pool 2\nqueue 'a', 'b', count: 1", ["a,b", "*"]),
        ("worker_pool 2\nqueue 'x', {:count => 1}", ["x", "*"]),
        ("worker_pool 2\nqueue (ENV['RB_NOT_SET'] || 'a,b').split", None),  # not a literal
        ("2.times { worker 'high' }\n1.times do worker 'low' end", ["high", "high", "low"]),
        ("2.times do |i|\n  worker 'a'  # a comment\n\n  worker 'b'\nend", ["a", "b", "a", "b"]),
        ("worker 'a', 'b', 'c', shuffle_queues: true", None),
    ],
)
def test_ruby_resqued_spellings_in_a_rb_file(tmp_path, text, expected, caplog):
    """Ruby resqued's config/resqued.rb, read by the same literal reader as resque_starter's."""
    if text.startswith("worker 'a', 'b', 'c'"):
        assert sorted(worker_table(evaluate(tmp_path, text, "r.rb"))[0].queues) == ["a", "b", "c"]
    elif expected is None:
        with pytest.raises(ConfigError, match=r"r\.rb:2: unsupported method \.split"):
            evaluate(tmp_path, text, "r.rb")
    else:
        assert rows(evaluate(tmp_path, text, "r.rb")) == expected
    config = evaluate(tmp_path, "worker 'a', interval: 0.5\nworker_pool 1, interval: 2", "i.rb")
    assert [slot.interval for slot in worker_table(config)] == [0.5, 2.0]


def test_ruby_resqued_hooks_are_skipped_with_a_warning(tmp_path, caplog):
    text = (
        "before_fork do\n  require './config/environment'\nend\n"
        "after_fork { |worker| worker.term_timeout = 2 }\n"
        "after_exit do |summary|\n  if summary.alive_time_sec < 1\n    puts 'x'\n  end\nend\n"
        "worker 'a'\n"
    )
    assert rows(evaluate(tmp_path, text, "r.rb")) == ["a"]
    skipped = [r.getMessage() for r in caplog.records]
    assert skipped == [
        f"{tmp_path}/r.rb:1: the before_fork block is Ruby code: skipped (-r names the application)",
        f"{tmp_path}/r.rb:4: the after_fork block is Ruby code: skipped (write it in Python)",
        f"{tmp_path}/r.rb:5: the after_exit block is Ruby code: skipped (write it in Python)",
    ]


def test_default_queues_from_env_then_job_classes(monkeypatch):
    config = Config(compat=Compat(queues_from_jobs=True))
    monkeypatch.setenv("QUEUES", "a, b")
    assert default_queues(config) and [q.name for q in config.queue_rules] == ["a", "b"]
    assert not default_queues(config)  # queues given now: nothing to do
    monkeypatch.delenv("QUEUES")
    monkeypatch.delenv("QUEUE", raising=False)
    import resqued

    @resqued.job("CompatUnitJob")
    class CompatUnitJob:
        queue = "zz-compat-unit"

        @staticmethod
        def perform() -> None:
            pass

    fresh = Config(compat=Compat(queues_from_jobs=True))
    assert default_queues(fresh)
    assert "zz-compat-unit" in [q.name for q in fresh.queue_rules]
    off = Config(compat=Compat(queues_from_jobs=True), preload_app=False)
    with pytest.raises(ConfigError, match="preload_app is off"):
        default_queues(off)


# -- resque-pool -------------------------------------------------------------------------------


def test_resque_pool_flags_apply_in_order_as_its_cli_does():
    def opts(*argv: str) -> dict[str, object]:
        return {k: v for k, v in vars(parser().parse_args(list(argv))).items() if v}

    assert opts("-d") == {
        "daemon": True,
        "stdout": "log/resque-pool.stdout.log",
        "stderr": "log/resque-pool.stderr.log",
        "pidfile": "tmp/pids/resque-pool.pid",
    }
    assert opts("-o", "my.out", "-d")["stdout"] == "my.out"
    assert "pidfile" not in opts("-d", "--no-pidfile")
    assert opts("--no-pidfile", "-p", "my.pid")["pidfile"] == "my.pid"
    assert "pidfile" not in opts("-p", "my.pid", "--no-pidfile")
    hot = opts("-p", "foo.pid", "-H")
    assert (hot.get("pidfile"), hot["lock"], hot["kill_others"]) == (
        None,
        "tmp/resque-pool.lock",
        True,
    )
    assert opts("-l", "foo.lock", "-H")["lock"] == "foo.lock"
    state: dict[str, object] = {}
    apply_flag(state, "appname", "billing")
    assert state == {"appname": "billing"}


@pytest.mark.parametrize(
    ("term", "term_child", "expected"),
    [
        (None, False, {"QUIT": "quit-wait", "INT": "quit-exit", "TERM": "term-exit"}),
        ("graceful-wait", False, {"QUIT": "quit-wait", "INT": "quit-exit", "TERM": "quit-wait"}),
        ("graceful", False, {"QUIT": "quit-wait", "INT": "quit-exit", "TERM": "quit-exit"}),
        (None, True, {"QUIT": "quit-exit", "INT": "term-exit", "TERM": "term-wait"}),
        ("graceful", True, {"QUIT": "quit-exit", "INT": "term-exit", "TERM": "term-exit"}),
    ],
)
def test_resque_pool_stop_table(term, term_child, expected):
    assert stop_table(term, term_child) == expected


def test_a_config_loader_replaces_resque_pools_yaml(tmp_path):
    yml = tmp_path / "resque-pool.yml"
    yml.write_text("foo: 2\n")
    setup = tmp_path / "setup.py"
    setup.write_text("")
    values = {"compat": {"pool_yaml": str(yml)}}
    assert rows(load(Overrides(dict(values), [str(setup)]))) == ["foo", "foo"]
    setup.write_text("config_loader(lambda env: {'bar': 1})\n")
    with_loader = load(Overrides(dict(values), [str(setup)]))
    assert rows(with_loader) == [] and str(yml) not in with_loader.sources


def test_erb_in_yaml_is_refused(tmp_path):
    yml = tmp_path / "resque-pool.yml"
    yml.write_text("# <%= not this %>\nfoo: <%= ENV['N'] %>\n")
    with pytest.raises(ConfigError, match=r"resque-pool\.yml:2: ERB tags"):
        load(Overrides(config_files=[str(yml)]))


# -- the master's signal modes and helpers ------------------------------------------------------


def test_signal_modes_default_to_resqueds_meanings():
    plain = Compat()
    assert [master_compat.stop_action(plain, s) for s in ("QUIT", "INT", "TERM")] == [
        ("QUIT", True),
        ("TERM", True),
        ("TERM", True),
    ]
    assert not master_compat.relays(plain, "USR1")
    assert master_compat.handles_winch(plain, False) and not master_compat.handles_winch(
        plain, True
    )
    assert master_compat.retire_signal(plain) == signal.SIGQUIT
    pool = Compat(stop={"INT": "quit-exit"}, relay_signals=["USR1"], winch="never")
    assert master_compat.stop_action(pool, "INT") == ("QUIT", False)
    assert master_compat.stop_action(pool, "TERM") == ("TERM", True)
    assert master_compat.relays(pool, "USR1") and not master_compat.relays(pool, "USR2")
    assert not master_compat.handles_winch(pool, False)


@pytest.mark.parametrize(
    ("title", "manager"),
    [
        ("resque-pool-master[app]: managing [1, 2]", True),
        ("resque-pool-master: (started)", True),
        ("resqued-0.1.0 master [gen 3] [7 workers] resque-pool[app] config/resque-pool.yml", True),
        ("resqued-0.1.0 master [gen 1] [1 worker] stopping resque-pool[x]", True),
        ("resqued-0.1.0 master starting resque-pool[app]", True),
        ("resqued-0.1.0 master [gen 1] [2 workers] config/resqued.conf.py", False),
        ("resqued-0.1.0 master [gen 1] [2 workers] /srv/resque-pool[1]/conf.py", False),
        ("resqued-0.1.0 listener #1 7/7/7 running resque-pool[app]", False),
        ("resque-1.27.4: Waiting for foo", False),
        ("vim resque-pool-master.rb", False),
    ],
)
def test_kill_others_recognizes_only_pool_managers(title, manager):
    assert pool_killer.is_pool_manager(title.split(" ")) is manager


def test_compat_values_are_checked():
    with pytest.raises(ConfigError, match="unknown compatibility setting 'nope'"):
        apply(Compat(), {"nope": 1})
    assert apply(Compat(), {"spawn_delay": 0.5}).spawn_delay == 0.5
    assert relay_names(("sigusr1", "CONT", "USR1")) == ["USR1", "CONT"]
    assert (shift_age("Daily"), shift_age("3")) == ("daily", 3)
    assert (shift_age(":weekly"), shift_age("monthly")) == ("weekly", "monthly")


def test_log_rotation_monthly(tmp_path):
    """Ruby Logger's 'monthly': at local midnight on the first; the old file is named by the
    month's last day (the standard library has no monthly rollover of its own)."""
    import time

    log = tmp_path / "x.log"
    rotation = from_view(MasterView(stderr_path=str(log), compat=Compat(log_shift_age="monthly")))
    assert rotation is not None and not rotation.due()
    then = time.localtime(rotation.handler.rolloverAt)
    now = time.localtime()
    assert (then.tm_mday, then.tm_hour, then.tm_min) == (1, 0, 0)
    assert (then.tm_year * 12 + then.tm_mon) - (now.tm_year * 12 + now.tm_mon) == 1
    log.write_text("february's lines\n")
    rotation.handler.rolloverAt = int(time.mktime((2026, 3, 1, 0, 0, 0, 0, 0, -1)))
    assert rotation.due()
    rotation.rotate()
    assert (tmp_path / "x.log.2026-02-28").read_text() == "february's lines\n"
    assert not rotation.due() and time.localtime(rotation.handler.rolloverAt).tm_mday == 1


def test_log_rotation_by_size(tmp_path):
    log = tmp_path / "x.log"
    assert from_view(MasterView(stderr_path=str(log), compat=Compat(log_shift_age=0))) is None
    rotation = from_view(
        MasterView(stderr_path=str(log), compat=Compat(log_shift_age=1, log_shift_size=10))
    )
    assert isinstance(rotation, Rotation) and not rotation.due()
    log.write_text("0123456789abc")
    assert rotation.due()
    rotation.rotate()
    assert (tmp_path / "x.log.1").read_text() == "0123456789abc" and not rotation.due()
    log.write_text("second file...")
    rotation.rotate()  # one old file kept
    assert (tmp_path / "x.log.1").read_text() == "second file..."
    assert not (tmp_path / "x.log.2").exists()


def test_replace_state_file_errors(tmp_path):
    with pytest.raises(ResquedError, match="cannot read state file"):
        read_state(str(tmp_path / "none"))
    junk = tmp_path / "junk"
    junk.write_text("not json")
    with pytest.raises(ResquedError, match="does not hold a master's state"):
        read_state(str(junk))
    assert not junk.exists()
    old = tmp_path / "old"
    old.write_text('{"version": 99}')
    with pytest.raises(ResquedError, match="is not a version 1 master state"):
        read_state(str(old))


def test_count_and_worker_count(monkeypatch):
    for name in ("COUNT", "WORKER_COUNT"):
        monkeypatch.delenv(name, raising=False)
    assert count_from_env() is None
    monkeypatch.setenv("COUNT", "3")
    assert count_from_env() == 3
    monkeypatch.setenv("WORKER_COUNT", "3")
    assert count_from_env() == 3
    monkeypatch.setenv("WORKER_COUNT", "4")
    with pytest.raises(ResquedError, match="COUNT and WORKER_COUNT disagree"):
        count_from_env()
    monkeypatch.delenv("COUNT")
    monkeypatch.setenv("WORKER_COUNT", "0")
    with pytest.raises(ConfigError, match="WORKER_COUNT must be at least 1"):
        count_from_env()


def test_relay_message_round_trips():
    assert ipc.decode(ipc.encode(ipc.Relay("USR1"))) == ipc.Relay("USR1")
    with pytest.raises(ipc.Malformed):
        ipc.decode("SIGNAL KILL")


def test_console_scripts_point_at_their_commands():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {
        "resqued": "resqued.cli:main",
        "resque-pool": "resqued.cli.resque_pool:main",
        "resque-starter": "resqued.cli.resque_starter:main",
        "resque_starter": "resqued.cli.resque_starter:main",  # its README's spelling
    }
    for target in scripts.values():
        module, function = target.split(":")
        path = ROOT / (module.replace(".", os.sep) + ".py")
        if not path.exists():
            path = ROOT / module.replace(".", os.sep) / "__init__.py"
        assert f"def {function}(" in path.read_text(), target


def test_kill_others_recognizes_the_titles_our_pool_masters_set():
    from types import SimpleNamespace

    from resqued.master import status

    master = SimpleNamespace(
        listeners=SimpleNamespace(workers=7, generation=2),
        stopping=None,
        failure="",
        view=MasterView(compat=Compat(title="resque-pool[billing]")),
        describe=lambda: "/srv/app/config/resque-pool.yml",
    )
    title = status.title(master)  # type: ignore[arg-type]
    assert pool_killer.is_pool_manager(title.split(" "))
    master.view = MasterView()
    assert not pool_killer.is_pool_manager(status.title(master).split(" "))  # type: ignore[arg-type]


def test_resque_pools_yaml_is_read_once(tmp_path, monkeypatch):
    yml = tmp_path / "pool.yml"
    yml.write_text("foo: 2\n")
    monkeypatch.setenv("RESQUE_POOL_CONFIG", str(yml))  # resque-pool -c sets it for the app
    assert rows(load(Overrides({"compat": {"pool_yaml": str(yml)}}, []))) == ["foo", "foo"]
