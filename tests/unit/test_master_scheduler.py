"""The master's mover, in process: started, replaced, told of reloads, kept across USR2, stopped.

The same harness as test_master_events.py (fake listeners, wait statuses handed
to the master's reaping), with a fake mover: its signals are recorded, never sent.
"""

from __future__ import annotations

import signal
import time
from dataclasses import replace
from typing import Any

import pytest
from test_master_events import FAKE_PID, Harness, status_of

from resqued import ipc
from resqued.config.view import MasterView
from resqued.master.scheduler import MoverProcess, Scheduler
from resqued.scheduler.spec import SchedulerSpec

SPEC = SchedulerSpec(schedule_file="schedule.yml", interval=1.0)
VIEW = MasterView(pool_size=2, workers=2, sources=("conf.py",), scheduler=SPEC)


class FakeMover(MoverProcess):
    count = 0

    def __init__(self, spec: SchedulerSpec, doc: dict[str, Any], cwd: str) -> None:
        FakeMover.count += 1
        self.process = None
        self.pid = FAKE_PID + 1000 + FakeMover.count
        self.spec = spec
        self.doc = doc
        self.started = time.monotonic()
        self.signals: list[int] = []

    def kill(self, sig: int) -> None:
        self.signals.append(sig)


@pytest.fixture
def h(monkeypatch):
    harness = Harness(monkeypatch, VIEW)
    harness.master.scheduler = Scheduler(FakeMover)
    return harness


def mover(h: Harness) -> FakeMover:
    current = h.master.scheduler.current
    assert isinstance(current, FakeMover)
    return current


def test_the_mover_starts_once_the_master_runs(h):
    h.turn()
    assert h.master.scheduler.empty  # not before a listener is ready
    h.current.says(ipc.Running(2, VIEW))
    h.turn()
    h.turn()
    m = mover(h)
    assert m.spec == SPEC and m.doc["scheduler"] == SPEC.to_dict()
    assert m.doc["namespace"] == "resque" and m.doc["dead_pids"] == []


def test_a_dead_mover_is_replaced_with_backoff_and_its_lock_freed(h):
    h.started_and_ready(view=VIEW)
    h.turn()
    first = mover(h)
    h.exits.append((first.pid, status_of(killed_by=signal.SIGKILL)))
    h.turn()
    s = h.master.scheduler
    assert s.empty and s.next_start_at > time.monotonic()
    s.next_start_at = 0.0
    h.turn()
    assert mover(h).doc["dead_pids"] == [first.pid]  # the new one frees the dead one's lock


def test_hup_reaches_the_mover_and_new_settings_replace_it(h):
    h.started_and_ready(view=VIEW)
    h.turn()
    first = mover(h)
    h.master.handle_hup()
    assert first.signals == [signal.SIGHUP]
    h.turn()
    new = replace(SPEC, interval=0.5, schedule_file=None)
    h.current.says(ipc.Running(2, replace(VIEW, scheduler=new)))
    h.turn()
    assert first.signals == [signal.SIGHUP, signal.SIGTERM]
    h.exits.append((first.pid, status_of(0)))
    h.turn()
    second = mover(h)
    assert second is not first and second.spec.interval == 0.5  # at once: no backoff


def test_a_reload_without_scheduler_stops_the_mover(h):
    h.started_and_ready(view=VIEW)
    h.turn()
    first = mover(h)
    h.master.handle_hup()
    h.turn()
    h.current.says(ipc.Running(2, replace(VIEW, scheduler=None)))
    h.turn()
    assert first.signals[-1] == signal.SIGTERM
    h.exits.append((first.pid, status_of(0)))
    h.turn()
    h.turn()
    assert h.master.scheduler.empty


def test_quit_stops_the_mover_and_waits_for_it(h):
    li = h.started_and_ready(view=VIEW)
    h.turn()
    m = mover(h)
    h.master.handle_quit()
    assert m.signals == [signal.SIGTERM] and li.signals == [signal.SIGQUIT]
    h.exits_with(li, status_of(0))
    assert h.turn() is False  # the mover is still there
    h.exits.append((m.pid, status_of(0)))
    assert h.turn() is True


def test_the_mover_crosses_a_usr2_in_the_state(h, monkeypatch):
    h.started_and_ready(view=VIEW)
    h.turn()
    m = mover(h)
    state = h.master.saved()
    assert state.scheduler is not None and state.scheduler.pid == m.pid
    again = Harness(monkeypatch, VIEW)
    again.master.scheduler = Scheduler(FakeMover)
    again.master.scheduler.adopt(state)
    adopted = again.master.scheduler.current
    assert adopted is not None and adopted.pid == m.pid and adopted.spec == SPEC


def test_new_settings_naming_a_bad_schedule_file_keep_the_running_mover(h, tmp_path):
    h.started_and_ready(view=VIEW)
    h.turn()
    first = mover(h)
    bad = tmp_path / "new.yml"
    bad.write_text("a:\n  every: 1m\n")  # no queue
    h.master.handle_hup()
    h.turn()
    h.current.says(ipc.Running(2, replace(VIEW, scheduler=replace(SPEC, schedule_file=str(bad)))))
    h.turn()
    assert first.signals == [signal.SIGHUP]  # not replaced
    assert h.master.view.scheduler == SPEC and mover(h) is first
