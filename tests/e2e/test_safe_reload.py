"""Deploys as operators do them: symlinked releases, configs that misbehave, starts that cannot work."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
from support.cli import run
from support.jobs import push, strings
from support.procs import descendants, ps, wait_for
from support.redis_server import RedisServer

from resqued.process.proc import alive

JOBS = """
import os, redis, resqued
r = redis.Redis.from_url(os.environ["REDIS_URL"])

@resqued.job("Version")
class Version:
    @staticmethod
    def perform(tag):
        r.rpush("versions", f"{tag}:{RELEASE}")

RELEASE = "%s"
"""


def workers(master: int) -> list[int]:
    return [p for p, _, t in descendants(master) if t.startswith("resque-") and "Waiting" in t]


def release(root: Path, name: str, workers: int = 1) -> Path:
    d = root / "releases" / name
    d.mkdir(parents=True)
    (d / "app_jobs.py").write_text(JOBS % name)
    (d / "conf.py").write_text(f"worker_processes({workers})\nqueue('v')\ninterval(1)\n")
    return d


def switch(current: Path, target: Path) -> None:
    tmp = current.with_name("current.new")
    tmp.symlink_to(target)
    os.replace(tmp, current)  # atomic, as deploy tools do it


def ran_release(r, tag: str) -> str:
    found = [v for v in strings(r, "versions") if v.startswith(f"{tag}:")]
    return found[0].split(":", 1)[1] if found else ""


@pytest.mark.parametrize("how", ["pwd", "chdir"])
def test_hup_after_a_symlink_switch_runs_the_new_release(resqued, tmp_path, r, how):
    release(tmp_path, "1")
    release(tmp_path, "2")
    current = tmp_path / "current"
    current.symlink_to(tmp_path / "releases" / "1")
    conf = str(current / "conf.py")  # an absolute path through the symlink
    if how == "pwd":  # a shell started in current/: $PWD names it
        m = resqued("-c", conf, "-r", "app_jobs", cwd=current, env={"PWD": str(current)},
                    app_on_path=False)  # fmt: skip
    else:  # a service manager that sets no $PWD: --chdir names it
        m = resqued("-c", conf, "-r", "app_jobs", "--chdir", str(current), cwd=current,
                    env={"PWD": "/"}, app_on_path=False)  # fmt: skip
    wait_for(lambda: len(workers(m.pid)) == 1, 20, "a worker of release 1")
    push(r, "v", "Version", "before")
    wait_for(lambda: ran_release(r, "before"), 10, "a job")
    assert ran_release(r, "before") == "1"
    switch(current, tmp_path / "releases" / "2")
    (tmp_path / "releases" / "2" / "conf.py").write_text(
        "worker_processes(2)\nqueue('v')\ninterval(1)\n"
    )
    m.signal(signal.SIGHUP)
    wait_for(lambda: len(workers(m.pid)) == 2, 20, "two workers of release 2 (new config)")
    wait_for(lambda: "listener #2" in m.output() and "is ready" in m.output(), 10, "reloaded")
    push(r, "v", "Version", "after")
    wait_for(lambda: ran_release(r, "after"), 10, "a job after the reload")
    assert ran_release(r, "after") == "2"  # new code, not just new config


def write_conf(app_dir: Path, text: str) -> Path:
    conf = app_dir / "conf.py"
    conf.write_text(text)
    return conf


GOOD = "worker_processes(2)\nqueue('default')\ninterval(1)\n"


def start_good(resqued, app_dir, *extra):
    conf = write_conf(app_dir, GOOD)
    m = resqued("-c", str(conf), "-r", "demo_jobs", *extra, cwd=app_dir)
    wait_for(lambda: len(workers(m.pid)) == 2, 20, "2 workers")
    return m, conf


def test_a_config_that_exits_on_hup_leaves_the_master_and_workers_alone(resqued, app_dir, r):
    m, conf = start_good(resqued, app_dir)
    before = sorted(workers(m.pid))
    conf.write_text("import os\nos._exit(0)\n")
    m.signal(signal.SIGHUP)
    wait_for(lambda: "reload failed" in m.output(), 20, "reload failure logged")
    assert alive(m.pid) and sorted(workers(m.pid)) == before
    push(r, "default", "Record", "still working")
    wait_for(lambda: r.llen("record") == 1, 10, "the old workers still work")


def test_a_config_that_hangs_on_hup_times_out_and_quit_still_works(resqued, app_dir, r):
    m, conf = start_good(resqued, app_dir, "--boot-timeout", "2")
    before = sorted(workers(m.pid))
    conf.write_text("while True:\n    pass\n")
    m.signal(signal.SIGHUP)
    wait_for(lambda: "not ready after 2s" in m.output(), 20, "the hanging listener stopped")
    wait_for(lambda: "reload failed" in m.output(), 10, "reload failure logged")
    assert sorted(workers(m.pid)) == before
    conf.write_text("while True:\n    pass\n")
    m.signal(signal.SIGHUP)  # hanging again: QUIT must not wait for it
    wait_for(lambda: m.output().count("started listener #") == 3, 10, "a third listener booting")
    m.signal(signal.SIGQUIT)
    assert m.wait(20) == 0
    assert not any(alive(p) for p in before)


def test_before_exec_that_raises_cancels_the_reexec(resqued, app_dir, r):
    m, conf = start_good(resqued, app_dir)
    before = sorted(workers(m.pid))
    conf.write_text(GOOD + "\n@before_exec\ndef boom():\n    raise RuntimeError('no exec today')\n")
    m.signal(signal.SIGUSR2)
    wait_for(lambda: "re-exec cancelled" in m.output(), 30, "re-exec cancelled")
    assert "no exec today" in m.output() and "took over" not in m.output()
    assert alive(m.pid) and sorted(workers(m.pid)) == before
    conf.write_text(GOOD)
    m.signal(signal.SIGUSR2)  # fixed: the re-exec goes through, workers untouched
    wait_for(lambda: "took over" in m.output(), 30, "re-exec done")
    assert sorted(workers(m.pid)) == before


def test_a_config_that_hangs_at_start_fails_the_start(resqued, app_dir, r):
    conf = write_conf(app_dir, "while True:\n    pass\n")
    m = resqued("-c", str(conf), "--boot-timeout", "2", cwd=app_dir)
    assert m.wait(30) == 1
    assert "still running after 2s" in m.output()
    # (other suites may run config checks on this machine: only those in app_dir count)
    assert not [
        p
        for p, _, t in ps()
        if "resqued.config.check" in t and _cwd(p) == os.path.realpath(app_dir)
    ]


def _cwd(pid: int) -> str:
    try:
        return os.path.realpath(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:  # gone meanwhile
        return ""


def run_cli(*args: str, cwd: Path, redis_url: str | None = None) -> subprocess.CompletedProcess:
    return run(*args, cwd=cwd, path=str(cwd), redis_url=redis_url)


def one_line_error(out: subprocess.CompletedProcess) -> str:
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 1, out
    assert "Traceback" not in out.stderr, out.stderr
    return lines[-1]


def test_test_imports_the_app_and_asks_redis(app_dir, redis_url):
    ok = run_cli("-n", "1", "-r", "demo_jobs", "--test", cwd=app_dir, redis_url=redis_url)
    assert ok.returncode == 0, ok.stderr
    assert "app: imported demo_jobs" in ok.stdout
    assert re.search(
        r"redis: (redis|valkey) [\d.]+ at redis://127\.0\.0\.1:\d+/0 answers", ok.stdout
    )
    missing = run_cli("-n", "1", "-r", "missing_module", "--test", cwd=app_dir,
                      redis_url=redis_url)  # fmt: skip
    assert "cannot require 'missing_module'" in one_line_error(missing)


def dead_url(tmp_path: Path) -> str:
    server = RedisServer(tmp_path)  # a port nobody listens on
    return server.url


def test_test_without_redis_passes_unless_strict(app_dir, tmp_path):
    """A config lint in CI, where no Redis runs: the table, exit 0, one line saying so;
    --strict (and the start of a real master) needs Redis to answer."""
    url = dead_url(tmp_path)
    out = run_cli("-n", "2", "--queue", "high=1", "-r", "demo_jobs", "--test", cwd=app_dir,
                  redis_url=url)  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[:4] == ["#  queues", "1  high", "2  *", "2 workers"]  # the table first
    assert lines[4] == "app: imported demo_jobs"
    assert len(lines) == 6 and lines[5].startswith(f"redis at {url} does not answer: ")
    assert lines[5].endswith("(not needed for --test; --test --strict requires it)")
    strict = run_cli("-n", "1", "--test", "--strict", cwd=app_dir, redis_url=url)
    assert "does not answer" in one_line_error(strict) and strict.stdout == ""
    # What cannot work still fails without Redis: a config, an app that does not import
    bad = write_conf(app_dir, "worker_processes(2)\nqueue('x', 'lots%')\n")
    assert "lots%" in one_line_error(run_cli("-c", str(bad), "--test", cwd=app_dir,
                                             redis_url=url))  # fmt: skip
    missing = run_cli("-n", "1", "-r", "missing_module", "--test", cwd=app_dir, redis_url=url)
    assert "cannot require 'missing_module'" in one_line_error(missing)
    pidfile = tmp_path / "m.pid"
    out = run_cli("-D", "-n", "1", "-p", str(pidfile), cwd=app_dir, redis_url=url)
    assert "does not answer" in one_line_error(out)
    assert not pidfile.exists()
    lone = run_cli("--strict", "-n", "1", cwd=app_dir, redis_url=url)
    assert lone.returncode == 2 and "--strict goes with --test" in lone.stderr


def test_daemonize_fails_with_the_reason_when_the_app_cannot_load(app_dir, redis_url, tmp_path):
    pidfile = tmp_path / "m.pid"
    out = run_cli("-D", "-n", "1", "-r", "missing_module", "-p", str(pidfile), cwd=app_dir,
                  redis_url=redis_url)  # fmt: skip
    assert "cannot require 'missing_module'" in one_line_error(out)
    assert not pidfile.exists()


def test_a_wrong_password_fails_fast_with_one_line(app_dir, tmp_path):
    server = RedisServer(tmp_path, password="right")
    server.start()
    try:
        wrong = f"redis://:wrong@127.0.0.1:{server.port}/0"
        out = run_cli("-n", "1", "--test", cwd=app_dir, redis_url=wrong)  # not --strict
        line = one_line_error(out)
        assert "refused the credentials" in line and "wrong" not in line.split("credentials")[0]
        out = run_cli("-n", "1", cwd=app_dir, redis_url=wrong)  # not retried like an outage
        assert out.returncode == 1 and "Traceback" not in out.stderr
        assert re.search(r"cannot start: redis at redis://:\*\*\*@[\d.:]+/0 refused", out.stderr)
    finally:
        server.stop()


def test_no_workers_at_all_is_refused(app_dir, redis_url):
    conf = write_conf(app_dir, "worker_processes(0)\n")
    out = run_cli("-c", str(conf), "--test", cwd=app_dir, redis_url=redis_url)
    assert "no workers configured" in one_line_error(out)
    out = run_cli("-c", str(conf), cwd=app_dir, redis_url=redis_url)
    assert "no workers configured" in one_line_error(out)


def test_workers_killed_from_outside_are_replaced_at_once(resqued, app_dir, r):
    from resqued.listener.slots import EARLY_DEATH

    m, _ = start_good(resqued, app_dir)
    first = workers(m.pid)
    wait_for(lambda: all(_age(p) > EARLY_DEATH for p in first), EARLY_DEATH + 10, "workers age")
    for _ in range(2):  # an operator (or the OOM killer) kills them, again and again
        old = workers(m.pid)
        for pid in old:
            os.kill(pid, signal.SIGKILL)
        wait_for(lambda old=old: len(set(workers(m.pid)) - set(old)) == 2, 10, "replacements")
        assert "restarts in" not in m.output()  # no crash backoff: they had been working
        new = workers(m.pid)
        wait_for(lambda new=new: all(_age(p) > EARLY_DEATH for p in new), EARLY_DEATH + 10,
                 "new workers age")  # fmt: skip
    old = workers(m.pid)
    for pid in old:
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: len(set(workers(m.pid)) - set(old)) == 2, 10, "replacements")
    for pid in workers(m.pid):  # ...but workers that die right after starting back off
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: "restarts in" in m.output(), 10, "backoff for early deaths")


def _age(pid: int) -> float:
    """Seconds since ``pid`` started, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        start_ticks = int(f.read().rpartition(")")[2].split()[19])
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    return uptime - start_ticks / os.sysconf("SC_CLK_TCK")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_master_killed_during_a_hung_config_check_takes_the_check_along(resqued, app_dir, r, sig):
    conf = write_conf(app_dir, "while True:\n    pass\n")
    m = resqued("-c", str(conf), "--boot-timeout", "60", cwd=app_dir)
    here = os.path.realpath(app_dir)

    def checks() -> list[int]:
        return [p for p, _, t in ps() if "resqued.config.check" in t and _cwd(p) == here]

    wait_for(checks, 20, "the config check running")
    m.signal(sig)
    m.wait(20)
    try:
        wait_for(lambda: not checks(), 10, "the config check gone with its master")
    finally:
        for pid in checks():  # left running (the test failed): ours, it runs in app_dir
            os.kill(pid, signal.SIGKILL)


def test_usr2_preflight_is_strict_about_the_new_releases_redis(resqued, app_dir, r, tmp_path):
    """The USR2 preflight runs --test --strict: a new release whose Redis does not answer (a
    typo in its URL) is not exec'd; the running master and its workers stay."""
    conf = write_conf(app_dir, GOOD)
    m = resqued("-c", str(conf), "-r", "demo_jobs", cwd=app_dir, redis=False)  # $REDIS_URL
    wait_for(lambda: len(workers(m.pid)) == 2, 20, "2 workers")
    before = sorted(workers(m.pid))
    conf.write_text(GOOD + f"redis({dead_url(tmp_path)!r})\n")
    m.signal(signal.SIGUSR2)
    wait_for(lambda: "re-exec cancelled" in m.output(), 30, "preflight failure logged")
    assert "does not answer" in m.output().split("re-exec cancelled", 1)[1].splitlines()[0]
    assert alive(m.pid) and sorted(workers(m.pid)) == before
    push(r, "default", "Record", "still working")
    wait_for(lambda: r.llen("record") == 1, 10, "a job done by the old workers")
