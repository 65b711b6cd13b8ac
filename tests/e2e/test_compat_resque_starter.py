"""resque_starter users: `resque-starter -c <config>` with its Ruby file as is, or in Python."""

from __future__ import annotations

import signal
from pathlib import Path

import yaml
from support.compat import compat, waiting, workers  # noqa: F401
from support.jobs import failures, push
from support.procs import wait_for

# resque_starter's example/resque.conf.rb, as its README points to it (paths under tmp/).
EXAMPLE_RB = """\
# Number of concurrency (resque workers)
concurrency 2

# By default, resque_starter logs to stdout
# logger ::Logger.new(::File.expand_path('../../tmp/log/resque_starter.log', __FILE__))

# Stores pid for resque starter (master) itself
pid_file ::File.expand_path('../../tmp/pids/resque_starter.pid', __FILE__)

# Status file stores pids of resque workers, etc
status_file ::File.expand_path('../../tmp/pids/resque_starter.stat', __FILE__)

queues ['high', 'low']

# Polling frequency (default: 5)
dequeue_interval 0.1

before_fork do |starter, worker, worker_nr|
  defined?(ActiveRecord::Base) and
    ActiveRecord::Base.connection.disconnect!
end

after_fork do |starter, worker, worker_nr|
  defined?(ActiveRecord::Base) and
    ActiveRecord::Base.establish_connection
end
"""


def status(path: Path) -> dict[int, int]:
    doc = yaml.safe_load(path.read_text())
    return dict(doc["old_workers"] or {})


def test_the_ruby_config_as_the_readme_starts_it(compat, app_dir, r):  # noqa: F811
    (app_dir / "example").mkdir()
    (app_dir / "example" / "resque.conf.rb").write_text(EXAMPLE_RB)
    (app_dir / "tmp" / "pids").mkdir(parents=True)
    m = compat("resque-starter", "-c", "example/resque.conf.rb", "-r", "compat_jobs", cwd=app_dir)
    wait_for(waiting(m.pid, "high,low", 2), 20, "2 workers on high,low")
    out = m.output()
    assert "resque.conf.rb:18: the before_fork block is Ruby code: skipped" in out
    assert "resque.conf.rb:23: the after_fork block is Ruby code: skipped" in out
    pidfile = app_dir / "tmp" / "pids" / "resque_starter.pid"
    stat = app_dir / "tmp" / "pids" / "resque_starter.stat"
    assert int(pidfile.read_text()) == m.pid
    assert (stat.read_text().splitlines()[0], "old_workers:" in stat.read_text()) == ("---", True)
    assert sorted(status(stat).values()) == [0, 1]
    assert set(status(stat)) == {pid for pid, _ in workers(m.pid)}
    # TTIN / TTOU: one worker more, one fewer (the status file follows)
    m.signal(signal.SIGTTIN)
    wait_for(lambda: sorted(status(stat).values()) == [0, 1, 2], 10, "a third worker")
    wait_for(waiting(m.pid, "high,low", 3), 10, "the third worker ready")
    m.signal(signal.SIGTTOU)
    wait_for(lambda: sorted(status(stat).values()) == [0, 1], 10, "back to two")
    # USR2 / CONT to the master pause and resume every worker
    wait_for(waiting(m.pid, "high,low", 2), 10, "two waiting")
    m.signal(signal.SIGUSR2)
    wait_for(lambda: sum("Paused" in t for _, t in workers(m.pid)) == 2, 10, "both paused")
    m.signal(signal.SIGCONT)
    wait_for(waiting(m.pid, "high,low", 2), 10, "both resumed")
    # USR1 to the master kills every current job; the workers go on
    push(r, "high", "Spin", "a", 60)
    wait_for(lambda: r.llen("started") == 1, 10, "a long job")
    push(r, "low", "Spin", "b", 60)  # (pushed together, both could go to the first worker's waits)
    wait_for(lambda: r.llen("started") == 2, 10, "another long job")
    m.signal(signal.SIGUSR1)
    wait_for(lambda: len(failures(r)) == 2, 10, "both jobs killed")
    wait_for(waiting(m.pid, "high,low", 2), 10, "workers still there")
    # QUIT: graceful; the pid and status files go away with the master
    m.signal(signal.SIGQUIT)
    assert m.wait(30) == 0
    assert not pidfile.exists() and not stat.exists()


PYTHON_CONF = """\
import os, redis
r = redis.Redis.from_url(os.environ["REDIS_URL"])
concurrency(2)
require("compat_jobs")
dequeue_interval(1)
log_file("log/resque_starter.log")
log_level("debug")
log_shift_age(2)
log_shift_size(2000)

@before_fork
def before(starter, worker, worker_nr):
    r.rpush("before", f"{worker_nr} {','.join(worker.queues)} {starter.num_workers}")

@after_fork
def after(starter, worker, worker_nr):
    r.rpush("after", f"{worker_nr} {os.getpid()}")
"""


def test_a_python_config_with_starter_hooks_job_queues_and_log_rotation(compat, app_dir, r):  # noqa: F811
    (app_dir / "log").mkdir()
    (app_dir / "resque.conf.py").write_text(PYTHON_CONF)
    m = compat("resque-starter", "--config", "resque.conf.py", cwd=app_dir)
    # no queues given: the queues of the job classes (compat_jobs: mail, reports), A-Z
    wait_for(waiting(m.pid, "mail,reports", 2), 20, "2 workers on mail,reports")
    wait_for(lambda: r.llen("after") == 2, 10, "after_fork in both workers")
    assert sorted(x.decode() for x in r.lrange("before", 0, -1)) == [
        "0 mail,reports 2",
        "1 mail,reports 2",
    ]
    assert sorted(int(x.split()[0]) for x in r.lrange("after", 0, -1)) == [0, 1]
    # debug lines (a line per job taken) fill the log past log_shift_size: the master rotates
    # it (log.1, log.2: log_shift_age 2 old files), and every process writes to the new file
    logs = app_dir / "log"
    for n in (1, 2, 3):  # three rotations: the oldest file is dropped at the third
        for _ in range(40):
            push(r, "mail", "Mailer", f"r{n}")
        wait_for(lambda n=n: r.get("resque:stat:processed") == str(40 * n).encode(), 30, "jobs")
        # rotated: log.N is there (from the 2nd rotation on, log.2 already is) and the
        # current file is below log_shift_size again
        wait_for(
            lambda n=n: (
                (logs / f"resque_starter.log.{min(n, 2)}").exists()
                and len(read(logs / "resque_starter.log")) < 2000
            ),
            30,
            f"rotation {n}",
        )
    assert sorted(p.name for p in logs.iterdir()) == [
        "resque_starter.log",
        "resque_starter.log.1",
        "resque_starter.log.2",
    ]
    before = read(logs / "resque_starter.log").count("Mailer on mail done")
    push(r, "mail", "Mailer", "r4")
    wait_for(lambda: read(logs / "resque_starter.log").count("Mailer on mail done") > before, 10,
             "the new file in use")  # fmt: skip
    m.signal(signal.SIGQUIT)
    assert m.wait(30) == 0


def test_test_flag_prints_the_table(compat, app_dir):  # noqa: F811
    (app_dir / "resque.conf.rb").write_text("concurrency 3\nqueues %w(high low)\n")
    p = compat("resque-starter", "-c", "resque.conf.rb", "-r", "compat_jobs", "--test", cwd=app_dir)
    assert p.wait(30) == 0, p.output()
    assert "1  high,low\n2  high,low\n3  high,low\n3 workers" in p.output()
    bad = compat("resque-starter", cwd=app_dir)  # resque_starter: its usage, then exit 1
    assert bad.wait(30) == 1
    assert bad.output().startswith("usage: resque-starter ")
    assert bad.output().rstrip().endswith("\nresque-starter: option --config is required")
    (app_dir / "typo.rb").write_text("concurency 3\n")
    typo = compat("resque-starter", "-c", "typo.rb", cwd=app_dir)
    assert typo.wait(30) == 1
    assert "typo.rb:1: 'concurency' is not a setting resqued reads from a Ruby file: " in (
        typo.output()
    )


# Ruby resqued's config/resqued.rb (its README's example, and its own hooks).
RESQUED_RB = """\
before_fork do
  require File.expand_path('../environment', __FILE__)
end
after_fork do |worker|
  worker.term_timeout = 2
end
worker 'mail'
worker 'reports', interval: 0.5
worker_pool 3, :interval => 1
queue 'high', 'low', count: 2
queue 'mail', percent: 40
2.times { worker 'mail', 'reports' }
"""


def test_resque_starter_script_with_a_ruby_resqued_config(compat, app_dir, r):  # noqa: F811
    """``bundle exec resque_starter -c ...`` (the README's name) given Ruby resqued's file."""
    (app_dir / "config").mkdir()
    (app_dir / "config" / "resqued.rb").write_text(RESQUED_RB)
    m = compat("resque_starter", "-c", "config/resqued.rb", "-r", "compat_jobs", cwd=app_dir)
    wait_for(waiting(m.pid, "mail,reports", 2), 20, "the 2.times workers")
    for queues, n in (("mail", 1), ("reports", 1), ("high,low,mail", 1), ("high,low", 1)):
        wait_for(waiting(m.pid, queues, n), 10, f"{n} on {queues}")
    assert len(workers(m.pid)) == 7
    out = m.output()
    assert "resqued.rb:1: the before_fork block is Ruby code: skipped (-r names the app" in out
    assert "resqued.rb:4: the after_fork block is Ruby code: skipped" in out
    push(r, "reports", "Report")
    wait_for(lambda: r.llen("record") == 1, 10, "a job done")
    m.signal(signal.SIGQUIT)
    assert m.wait(30) == 0
    # A line no Ruby reader here can take: one line naming the file, the line and the fix.
    (app_dir / "config" / "factory.rb").write_text(
        "worker_factory { |q| Resque::Worker.new(*q) }\n"
    )
    bad = compat("resque_starter", "-c", "config/factory.rb", cwd=app_dir)
    assert bad.wait(30) == 1
    lines = bad.output().strip().splitlines()
    assert lines == [
        f"resqued: {app_dir}/config/factory.rb:1: worker_factory is Ruby code: write this config "
        "in Python (docs/migrating/ruby-resqued.md, resque_starter.md)"
    ]


def read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def test_log_shift_age_spellings_of_rubys_logger(compat, app_dir, r):  # noqa: F811
    """'monthly' (and :daily, 'weekly' ...) as Ruby's Logger and the starter's config take them."""
    for spelling in (":daily", "'Weekly'", "'monthly'", ":monthly"):
        (app_dir / "s.rb").write_text(f"concurrency 1\nqueues %w(mail)\nlog_shift_age {spelling}\n")
        t = compat("resque-starter", "-c", "s.rb", "--test", cwd=app_dir)
        assert t.wait(30) == 0, t.output()
    (app_dir / "log").mkdir()
    (app_dir / "m.rb").write_text(
        "concurrency 1\nqueues %w(mail)\nlogger ::Logger.new('log/starter.log', 'monthly')\n"
    )
    m = compat("resque-starter", "-c", "m.rb", "-r", "compat_jobs", cwd=app_dir)
    wait_for(waiting(m.pid, "mail", 1), 20, "a worker")
    wait_for(lambda: "started" in read(app_dir / "log" / "starter.log"), 10, "the log file")
    m.signal(signal.SIGQUIT)
    assert m.wait(30) == 0
