"""resque-pool's custom config loader: worker counts that follow a callable, polled each second."""

from __future__ import annotations

from support.procs import ps, wait_for

CONFIG = """
import os, redis
r = redis.Redis.from_url(os.environ["REDIS_URL"])

@config_loader
def counts(env):
    return {"alpha": int(r.get("want:alpha") or 0), "beta,gamma": int(r.get("want:beta") or 0)}
"""


def worker_titles(master_pid: int) -> list[str]:
    rows = ps()
    listeners = {p for p, pp, t in rows if pp == master_pid and " listener #" in t}
    return sorted(t for p, pp, t in rows if pp in listeners and t.startswith("resque-"))


def titles_are(master_pid: int, *wanted: str) -> bool:
    """One worker per ``wanted`` text, each title containing its text (read in one ps)."""
    titles = worker_titles(master_pid)
    return len(titles) == len(wanted) and all(
        sum(text in t for t in titles) == list(wanted).count(text) for text in wanted
    )


def test_loader_scales_workers_up_and_down(resqued, app_dir, r):
    r.set("want:alpha", 1)
    (app_dir / "loader.py").write_text(CONFIG)
    m = resqued("-c", str(app_dir / "loader.py"), "--interval", "1", cwd=app_dir)
    # A new worker is "Starting" before it is "Waiting for ...": wait for the final titles.
    wait_for(lambda: titles_are(m.pid, "Waiting for alpha"), 15, "one alpha worker")
    r.set("want:alpha", 2)
    r.set("want:beta", 1)
    wait_for(
        lambda: titles_are(
            m.pid, "Waiting for alpha", "Waiting for alpha", "Waiting for beta,gamma"
        ),
        15,
        "three workers",
    )
    r.set("want:alpha", 0)
    wait_for(lambda: titles_are(m.pid, "Waiting for beta,gamma"), 15, "alpha workers retired")
    ids = {w.decode().split(":", 2)[2] for w in r.smembers("resque:workers")}
    assert ids == {"beta,gamma"}


def test_a_failing_loader_keeps_the_current_workers(resqued, app_dir, r):
    r.set("want:alpha", 2)
    (app_dir / "loader.py").write_text(CONFIG)
    m = resqued("-c", str(app_dir / "loader.py"), "--interval", "1", cwd=app_dir)
    wait_for(lambda: titles_are(m.pid, "Waiting for alpha", "Waiting for alpha"), 15, "two workers")
    before = worker_titles(m.pid)
    r.set("want:alpha", "not a number")
    wait_for(lambda: "config_loader hook counts failed" in m.output(), 10, "loader error logged")
    assert worker_titles(m.pid) == before


def test_dash_e_reaches_the_loader(resqued, app_dir, r):
    """``resqued -E staging``: the loader is called with "staging", as resque-pool's -E does."""
    (app_dir / "loader.py").write_text(
        "@config_loader\ndef counts(env):\n    return {f'env-{env}': 1}\n"
    )
    env = {"RACK_ENV": "", "RAILS_ENV": "production", "RESQUE_ENV": ""}
    m = resqued("-c", str(app_dir / "loader.py"), "-E", "staging", env=env, cwd=app_dir)
    wait_for(lambda: titles_are(m.pid, "Waiting for env-staging"), 15, "a worker on env-staging")
    # Without -E, the first of $RACK_ENV, $RAILS_ENV, $RESQUE_ENV that is set.
    m2 = resqued("-c", str(app_dir / "loader.py"), env=env, cwd=app_dir)
    wait_for(lambda: titles_are(m2.pid, "Waiting for env-production"), 15, "env-production")
