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
