"""The master's Prometheus endpoint, read with the Prometheus text parser."""

from __future__ import annotations

import os
import signal
import urllib.request

from prometheus_client.parser import text_string_to_metric_families
from support.jobs import push
from support.procs import descendants, wait_for
from support.redis_server import free_port


def workers(pid: int) -> list[int]:
    return [p for p, _, t in descendants(pid) if t.startswith("resque-") and "Waiting" in t]


def scrape(port: int) -> dict[str, list]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def value(families: dict, name: str, **labels: str) -> float | None:
    for family in families.values():
        for sample in family:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return None


def test_the_endpoint_serves_generation_reloads_replacements_and_queues(resqued, app_dir, r):
    port = free_port()
    conf = app_dir / "conf.py"
    conf.write_text("worker_processes(2)\nqueue('default')\n")
    m = resqued("-c", str(conf), "-r", "demo_jobs", "--metrics", f"127.0.0.1:{port}", cwd=app_dir)
    wait_for(lambda: len(workers(m.pid)) == 2, 20, "2 workers")
    for n in range(3):
        push(r, "waiting", "Record", n)  # a queue nobody works: its depth shows
    families = wait_for(lambda: scrape(port), 10, "the endpoint answers")
    assert value(families, "resqued_listener_generation") == 1
    assert value(families, "resqued_queue_depth", queue="waiting") == 3
    assert value(families, "resqued_delayed_jobs") == 0
    assert value(families, "resqued_scheduler_lock_held") == 0
    # Delayed jobs, one of them long due (no mover runs here): counted, and the lag shows.
    r.rpush("resque:delayed:1700000000", b'{"class":"A","args":[],"queue":"q"}')
    r.zadd("resque:delayed_queue_schedule", {"1700000000": 1700000000})
    r.rpush("resque:delayed:2000000000", b'{"class":"B","args":[],"queue":"q"}')
    r.zadd("resque:delayed_queue_schedule", {"2000000000": 2000000000})
    families = scrape(port)
    assert value(families, "resqued_delayed_jobs") == 2
    assert value(families, "resqued_delayed_jobs_due") == 1
    assert value(families, "resqued_scheduler_lag_seconds") > 10_000_000
    m.signal(signal.SIGHUP)
    wait_for(lambda: value(scrape(port), "resqued_reloads_total", outcome="ok") == 1, 20, "reload")
    assert value(scrape(port), "resqued_listener_generation") == 2
    wait_for(lambda: len(workers(m.pid)) == 2, 20, "2 new workers")
    os.kill(workers(m.pid)[0], signal.SIGKILL)
    wait_for(
        lambda: (
            value(scrape(port), "resqued_worker_replacements_total", reason="killed by SIGKILL")
            == 1
        ),
        10,
        "the replacement counted",
    )
    m.signal(signal.SIGQUIT)
    assert m.wait(20) == 0


def test_metrics_without_a_usable_address_is_one_line(resqued, app_dir, r):
    m = resqued("-n", "1", "--metrics", "127.0.0.1:notaport", "--test", cwd=app_dir)
    assert m.wait(20) == 1
    assert "the port must be a number" in m.output() and "Traceback" not in m.output()


def test_job_counts_durations_failures_and_states_survive_recycling_and_reload(resqued, app_dir, r):
    port = free_port()
    conf = app_dir / "conf.py"
    conf.write_text("worker_processes(2)\nqueue('default')\njobs_per_fork(3)\n")
    m = resqued("-c", str(conf), "-r", "demo_jobs", "--metrics", f"127.0.0.1:{port}", cwd=app_dir)
    wait_for(lambda: len(workers(m.pid)) == 2, 20, "2 workers")
    for n in range(5):
        push(r, "default", "Record", n)
    for n in range(2):
        push(r, "default", "Fail", f"boom {n}")
    wait_for(lambda: r.llen("resque:failed") == 2 and r.llen("record") == 5, 20, "7 jobs done")

    def counted(families=None) -> bool:
        f = families or scrape(port)
        return (
            value(f, "resqued_jobs_processed_total", queue="default", **{"class": "Record"}) == 5
            and value(f, "resqued_jobs_processed_total", queue="default", **{"class": "Fail"}) == 2
        )

    wait_for(counted, 20, "the jobs counted by queue and class")
    f = scrape(port)
    rec, fail = {"queue": "default", "class": "Record"}, {"queue": "default", "class": "Fail"}
    assert value(f, "resqued_jobs_failed_total", **fail) == 2
    assert value(f, "resqued_jobs_failed_total", **rec) == 0
    assert value(f, "resqued_job_duration_seconds_count", **rec) == 5
    assert value(f, "resqued_job_duration_seconds_bucket", le="+Inf", **rec) == 5
    assert value(f, "resqued_job_duration_seconds_sum", **rec) > 0
    # 7 jobs with jobs_per_fork(3) on 2 workers: at least one worker was recycled
    wait_for(
        lambda: (
            (
                value(
                    scrape(port),
                    "resqued_worker_replacements_total",
                    reason="recycled after 3 jobs",
                )
                or 0
            )
            >= 1
        ),
        20,
        "a recycle counted",
    )
    wait_for(lambda: value(scrape(port), "resqued_workers", state="waiting") == 2, 20, "idle")
    push(r, "default", "Sleep", "busy", 8)
    wait_for(lambda: value(scrape(port), "resqued_workers", state="working") == 1, 20, "working")
    assert value(scrape(port), "resqued_workers", state="waiting") == 1
    # A reload: the old listener's counts stay in the totals, the new one's add to them.
    m.signal(signal.SIGHUP)
    wait_for(lambda: value(scrape(port), "resqued_reloads_total", outcome="ok") == 1, 20, "reload")
    for n in range(5, 8):
        push(r, "default", "Record", n)
    wait_for(lambda: r.llen("record") == 8, 40, "3 more jobs")  # after the old worker's Sleep
    wait_for(
        lambda: value(scrape(port), "resqued_jobs_processed_total", **rec) == 8, 20, "all counted"
    )
    assert value(scrape(port), "resqued_jobs_failed_total", **fail) == 2
    m.signal(signal.SIGQUIT)
    assert m.wait(60) == 0
