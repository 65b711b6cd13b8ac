"""resque-pool users: `resque-pool` started as its README starts it, with its YAML and flags.

The app directory holds resque-pool's files where resque-pool looks for them
(``config/resque-pool.yml``) and the Python setup file that replaces the
``resque:pool:setup`` rake task (``config/resque-pool.py``).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from support.compat import compat, pgid, titles_below, waiting, workers  # noqa: F401
from support.jobs import failures, push
from support.pidns import in_pid_namespace
from support.procs import wait_for

README_YAML = """\
foo: 1
bar: 2
"foo,bar,baz": 1

production:
  "foo,bar,baz": 4
"""

SETUP = """\
import os, time, redis
require("compat_jobs")
r = redis.Redis.from_url(os.environ["REDIS_URL"])

@after_prefork
def reconnect(worker):
    r.rpush("prefork", os.getpid())

@after_prefork
def second(worker):
    r.rpush("prefork2", os.getpid())

@after_spawn
def spawned(worker, pid, workers):
    r.rpush("spawned", f"{pid} {worker} {sum(len(w) for w in workers.values())} {time.time()}")
"""


def app(tmp_path: Path, yaml: str = README_YAML, setup: str = SETUP) -> Path:
    (tmp_path / "config").mkdir(exist_ok=True)
    (tmp_path / "config" / "resque-pool.yml").write_text(yaml)
    (tmp_path / "config" / "resque-pool.py").write_text(setup)
    (tmp_path / "compat_jobs.py").write_text(
        (Path(__file__).parent.parent / "support" / "apps" / "compat_jobs.py").read_text()
    )
    return tmp_path


def master_of(tmp_path: Path) -> int:
    path = tmp_path / "tmp" / "pids" / "resque-pool.pid"
    wait_for(path.exists, 15, "the default pidfile")
    return int(path.read_text())


def test_daemon_and_environment_as_the_readme_starts_it(compat, tmp_path, r):  # noqa: F811
    where = app(tmp_path)
    launcher = compat("resque-pool", "--daemon", "--environment", "production", cwd=where)
    assert launcher.wait(30) == 0, launcher.output()
    master = compat.adopt(master_of(where))
    wait_for(waiting(master, "foo,bar,baz", 4), 20, "4 workers on foo,bar,baz (production)")
    assert waiting(master, "foo", 1)() and waiting(master, "bar", 2)()
    # titles: the appname (the directory's name) in the master's and listener's, Resque's in workers'
    listener = [t for t in titles_below(master) if " listener #1 " in t]
    assert listener and listener[0].endswith(f"resque-pool[{where.name}]")
    with open(f"/proc/{master}/cmdline") as f:
        assert f"] resque-pool[{where.name}] " in f.read().replace("\0", " ")
    # the daemon's default files
    assert (where / "log" / "resque-pool.stdout.log").exists()
    # resque-pool's line once -d and the log files took effect: in the file, not the terminal
    assert "running in" not in launcher.output()
    stderr_log = (where / "log" / "resque-pool.stderr.log").read_text()
    assert "Resque Pool running in production environment" in stderr_log
    assert "master" in stderr_log
    # every worker (and the listener) in a process group of its own: Ctrl-C reaches the master only
    pids = [pid for pid, _ in workers(master)]
    assert all(pgid(pid) == pid for pid in pids) and pgid(master) not in map(pgid, pids)
    # hooks: after_prefork (both) in each worker, after_spawn in the listener with the pid
    wait_for(lambda: r.llen("prefork") == 7 and r.llen("prefork2") == 7, 10, "after_prefork x7")
    assert sorted(int(p) for p in r.lrange("prefork", 0, -1)) == sorted(pids)
    spawned = [x.decode().split() for x in r.lrange("spawned", 0, -1)]
    assert sorted(int(s[0]) for s in spawned) == sorted(pids)
    assert all(s[1].split(":")[1] == s[0] for s in spawned)  # the worker's id: host:pid:queues
    # -E reaches the application's environment
    push(r, "foo", "Env")
    wait_for(lambda: r.llen("env"), 10, "the Env job")
    assert r.lindex("env", 0).decode().startswith("production,production,production")
    # USR2 / CONT go to every worker: pause, resume
    os.kill(master, signal.SIGUSR2)
    wait_for(lambda: sum("Paused" in t for _, t in workers(master)) == 7, 10, "7 paused")
    os.kill(master, signal.SIGCONT)
    wait_for(waiting(master, "foo,bar,baz", 4), 10, "resumed")
    # USR1 goes to every worker: the current job is killed, the worker keeps working
    push(r, "bar", "Spin", "long", 60)
    wait_for(lambda: r.llen("started"), 10, "the long job started")
    os.kill(master, signal.SIGUSR1)
    wait_for(lambda: failures(r), 10, "the killed job in failed")
    assert failures(r)[0]["payload"]["class"] == "Spin"
    wait_for(waiting(master, "bar", 2), 10, "the bar workers back to waiting")
    # WINCH (daemonized): every worker stops, the master stays; HUP starts them again
    os.kill(master, signal.SIGWINCH)
    wait_for(lambda: not workers(master), 15, "workers stopped by WINCH")
    os.kill(master, signal.SIGHUP)
    wait_for(waiting(master, "foo,bar,baz", 4), 20, "workers back after HUP")
    # INT: the workers stop gracefully, the manager exits at once (it does not wait for the job)
    push(r, "foo", "Spin", "last", 5)
    wait_for(lambda: r.lrange("started", 0, -1)[-1].startswith(b"last"), 10, "the last job started")
    os.kill(master, signal.SIGINT)
    wait_for(lambda: not (where / "tmp" / "pids" / "resque-pool.pid").exists(), 10, "master gone")
    assert r.llen("finished") == 0  # the job was still running when the manager had exited
    wait_for(lambda: r.lrange("finished", 0, -1) == [b"last"], 15, "the job finished anyway")


@pytest.mark.parametrize(
    ("flags", "env", "job_finishes"),
    [
        ([], {}, False),  # default TERM: workers stop now (INT), the manager exits
        (["--term-graceful-wait"], {}, True),  # TERM as QUIT: graceful, the manager waits
        ([], {"TERM_CHILD": "1"}, False),  # TERM_CHILD: TERM to workers (their job TERMed), wait
    ],
)
def test_term_follows_the_flags_and_term_child(compat, tmp_path, r, flags, env, job_finishes):  # noqa: F811
    where = app(tmp_path, yaml="foo: 1\n", setup='require("compat_jobs")\n')
    m = compat("resque-pool", *flags, cwd=where, env={"INTERVAL": "1", **env})
    wait_for(waiting(m.pid, "foo", 1), 20, "the worker")
    push(r, "foo", "Spin", "job", 2)
    wait_for(lambda: r.llen("started"), 10, "the job started")
    m.signal(signal.SIGTERM)
    m.wait(20)
    if job_finishes:
        assert r.lrange("finished", 0, -1) == [b"job"]  # the manager waited for it
    else:
        wait_for(lambda: failures(r), 10, "the stopped job in failed")
        assert r.llen("finished") == 0


def test_config_loader_reset_on_hup_spawn_delay_and_one_process_group(compat, tmp_path, r):  # noqa: F811
    setup = SETUP + (
        "class Loader:\n"
        "    def call(self, env):\n"
        "        return {'foo': 2, env: 1}\n"
        "    def reset(self):\n"
        "        r.rpush('reset', os.getpid())\n"
        "config_loader(Loader())\n"
    )
    where = app(tmp_path, setup=setup)
    m = compat(
        "resque-pool",
        "-E",
        "staging",
        "-s",
        "400",
        "--single-process-group",
        "-a",
        "billing",
        cwd=where,
    )
    # a loader replaces the YAML file (as in resque-pool): 2 on foo, 1 on the environment's name
    wait_for(lambda: waiting(m.pid, "foo", 2)() and waiting(m.pid, "staging", 1)(), 20, "loader's")
    assert len(workers(m.pid)) == 3
    assert any(t.endswith("resque-pool[billing]") for t in titles_below(m.pid))
    assert all(pgid(pid) == pgid(m.pid) for pid, _ in workers(m.pid))  # --single-process-group
    times = sorted(float(x.split()[-1]) for x in r.lrange("spawned", 0, -1))
    assert all(b - a >= 0.35 for a, b in zip(times, times[1:], strict=False))  # -s 400 (ms)
    assert r.llen("reset") == 0
    m.signal(signal.SIGHUP)
    wait_for(lambda: r.llen("reset") == 1, 20, "reset() called in the new listener")
    m.signal(signal.SIGQUIT)
    assert m.wait(30) == 0


def test_hot_swap_lock_and_kill_others_only_hit_pools(tmp_path, redis_url):
    """-H: no pidfile, a shared lock, and INT to the other pools once our workers run.

    In a private PID namespace: a Ruby pool manager (its title), a plain resqued master
    (its title) and an unrelated process stand by; only the Ruby pool and then our first
    pool may be signalled.
    """
    where = app(tmp_path, yaml="foo: 1\n", setup='require("compat_jobs")\n')
    result = in_pid_namespace(
        f"""
        import fcntl, os, signal, subprocess, sys
        from support.pidns import impostor, victim, until, report, running
        cwd = {str(where)!r}
        ruby = impostor("resque-pool-master[app]: managing [11, 12]")
        plain = impostor("resqued-0.1.0 master [gen 1] [1 worker] config/resqued.conf.py")
        other = victim()

        def pool():
            return subprocess.Popen(
                [sys.executable, "-m", "resqued.cli.resque_pool", "--hot-swap"],
                cwd=cwd, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )

        def lock_held():
            with open(os.path.join(cwd, "tmp", "resque-pool.lock")) as f:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return True
                fcntl.flock(f, fcntl.LOCK_UN)
                return False

        first = pool()
        ruby_gone = until(lambda: not running(ruby), 30)
        held = until(lock_held, 10)
        second = pool()
        first_gone = until(lambda: first.poll() is not None, 30)
        report(
            ruby_gone=ruby_gone, first_gone=first_gone, held=held,
            still_held=lock_held(), plain=running(plain), other=running(other),
            second=second.poll() is None,
            pidfile=os.path.exists(os.path.join(cwd, "tmp", "pids", "resque-pool.pid")),
        )
        second.send_signal(signal.SIGQUIT)
        second.wait(30)
        """,
        env={"REDIS_URL": redis_url, "PYTHONPATH": str(where)},
    )
    assert result == {
        "ruby_gone": True,
        "first_gone": True,
        "held": True,
        "still_held": True,
        "plain": True,
        "other": True,
        "second": True,
        "pidfile": False,
    }


@pytest.mark.parametrize(
    ("args", "files", "code", "message"),
    [
        (["--daemn"], {}, 2, "resque-pool: unrecognized arguments: --daemn"),
        (["--conf", "x.yml"], {}, 2, "unrecognized arguments: --conf"),  # no abbreviations
        (["-c", "missing.yml"], {}, 1, "cannot read config file missing.yml"),
        (["-s", "soon"], {}, 1, "-s/--spawn-delay must be a whole number"),
        ([], {"resque-pool.yml": "foo: <%= 1 + 1 %>\n"}, 1, "resque-pool.yml:1: ERB tags"),
    ],
)
def test_bad_input_is_one_line(compat, tmp_path, args, files, code, message):  # noqa: F811
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    p = compat("resque-pool", *args, cwd=tmp_path)
    assert p.wait(30) == code
    out = p.output().strip()
    assert message in out and "Traceback" not in out, out
