"""The master's state machine, in process: signals and listener events against fake listeners.

As gunicorn tests its arbiter: the ``Master`` runs its loop turns (``turn()``,
without the sleep) over a ``Listeners`` whose processes are fakes.  Each fake
listener has a real socketpair, so the test speaks the listener's side of the
protocol (``RUNNING``, ``FAILED``, ``+pid``) and reads what the master sends
it; signals it is sent are recorded, never delivered; its exit is handed to the
master's reaping as a wait status.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest

from resqued import ipc
from resqued.config.compat import Compat
from resqued.config.model import Overrides
from resqued.config.view import MasterView
from resqued.master import loop
from resqued.master.listeners import Listeners
from resqued.master.proxy import ListenerProxy

FAKE_PID = 1 << 23  # above any pid_max: nothing real is ever named


class FakeListener(ListenerProxy):
    """A listener without a process: the test plays its side of the socketpair."""

    def __init__(self, number: int, spec: dict[str, Any], cwd: str) -> None:
        self.number = number
        self.spec = spec
        self.channel, theirs = ipc.pair()
        self.theirs = ipc.Channel(theirs)
        self.process = None
        self.pid = FAKE_PID + number
        self.started = time.monotonic()
        self.ready = False
        self.total = 0
        self.view = None
        self.failure = ""
        self.stats = {}
        self.workers = {}
        self.held = 0
        self.held_told = 0
        self.rolls = True
        self.rolling = False
        self.asked = set()
        self.exit_status = None
        self.signals: list[int] = []

    def kill(self, sig: int) -> None:
        if self.running:
            self.signals.append(sig)

    def says(self, *messages: ipc.Message) -> None:
        for message in messages:
            self.theirs.send(message)

    def heard(self) -> list[ipc.Message]:
        return self.theirs.messages()


def status_of(code: int = 0, killed_by: int = 0) -> int:
    """A wait status, as ``waitpid`` gives it."""
    return killed_by if killed_by else code << 8


VIEW = MasterView(pool_size=2, workers=2, sources=("conf.py",))


class Harness:
    def __init__(self, monkeypatch: pytest.MonkeyPatch, view: MasterView = VIEW) -> None:
        monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
        self.exits: list[tuple[int, int]] = []
        monkeypatch.setattr(loop, "reaped_any", self._reaped)
        self.master = loop.Master(Overrides(), view, os.getcwd(), listeners=Listeners(FakeListener))

    def _reaped(self) -> list[tuple[int, int]]:
        exits, self.exits = self.exits, []
        return exits

    def turn(self) -> bool:
        return self.master.turn()

    @property
    def current(self) -> FakeListener:
        li = self.master.listeners.current
        assert isinstance(li, FakeListener)
        return li

    def all(self) -> list[FakeListener]:
        return [li for li in self.master.listeners.listeners if isinstance(li, FakeListener)]

    def exits_with(self, li: FakeListener, wait_status: int) -> None:
        self.exits.append((li.pid, wait_status))

    def started_and_ready(self, workers: int = 2, view: MasterView = VIEW) -> FakeListener:
        """Turn until a new listener runs: it is started, reports RUNNING, gets ready."""
        before = self.master.listeners.generation
        self.turn()
        li = self.current
        assert li.number == before + 1 and not li.ready
        li.says(ipc.Running(workers, view))
        self.turn()
        assert li.ready and self.master.listeners.current is li
        return li


def test_a_first_start_gets_ready(monkeypatch):
    h = Harness(monkeypatch)
    li = h.started_and_ready(view=MasterView(pool_size=2, workers=2, shutdown_timeout=12.0))
    m = h.master
    assert m.ever_ready and m.failure == "" and m.exit_code == 0
    assert m.view.shutdown_timeout == 12.0  # the listener's view is the master's now
    assert li.spec["reload"] is False and "worker_processes" not in li.spec["overrides"]
    assert not h.turn() and h.master.listeners.generation == 1  # nothing else starts


def test_a_first_start_that_fails_stops_the_master_with_the_reason(monkeypatch):
    h = Harness(monkeypatch)
    h.turn()
    li = h.current
    li.says(ipc.Failed("cannot require 'app': No module named 'app'"))
    h.turn()
    assert li.failure.startswith("cannot require")
    h.exits_with(li, status_of(1))
    assert h.turn() is True  # done: nothing is left to wait for
    m = h.master
    assert (m.exit_code, m.stopping) == (1, "TERM")
    assert m.failure == "cannot require 'app': No module named 'app'"
    assert m.listeners.generation == 1  # never retried


def test_hup_while_the_new_listener_boots_drops_it_and_starts_another(monkeypatch):
    h = Harness(monkeypatch)
    first = h.started_and_ready()
    h.master.handle_hup()
    h.turn()
    booting = h.current
    assert booting.number == 2 and booting.spec["reload"] is True
    h.master.handle_hup()  # again, before #2 got ready
    assert booting.signals == [signal.SIGKILL]
    h.exits_with(booting, status_of(killed_by=signal.SIGKILL))
    third = h.started_and_ready()
    assert third.number == 3
    assert first.heard() == [ipc.Retire()]  # retired once #3 runs, not before
    assert first.signals == [] and first.rolling
    assert h.master.last_reload is not None and h.master.last_reload["outcome"] == "ok"
    assert h.master.reloads == {"ok": 1}


def test_a_reload_that_fails_keeps_the_old_listener_and_its_workers(monkeypatch):
    h = Harness(monkeypatch)
    first = h.started_and_ready()
    first.says(ipc.WorkerStarted(FAKE_PID + 100, "a"), ipc.WorkerStarted(FAKE_PID + 101, "a"))
    first.says(ipc.Held(0))  # both its slots have their worker
    h.turn()
    h.master.handle_hup()
    h.turn()
    second = h.current
    assert second.heard() == [
        ipc.WorkerStarted(FAKE_PID + 100, "a"),
        ipc.WorkerStarted(FAKE_PID + 101, "a"),
    ]  # the new listener is told which older workers still run
    second.says(ipc.Failed("SyntaxError: invalid syntax (conf.py, line 3)"))
    h.turn()
    h.exits_with(second, status_of(1))
    h.turn()
    m = h.master
    assert m.listeners.current is first and first.signals == []
    assert m.reloads == {"failed": 1} and m.last_reload is not None
    assert m.last_reload["outcome"] == "failed" and "SyntaxError" in m.last_reload["error"]
    assert m.failure.startswith("SyntaxError") and not m.stopping
    assert m.listeners.workers == 2
    assert not h.turn() and m.listeners.generation == 2  # no retry: the old one serves


def test_a_listener_that_dies_after_running_is_replaced_with_backoff(monkeypatch):
    h = Harness(monkeypatch)
    first = h.started_and_ready()
    worker = os.getpid()  # a live pid: the orphan stays until it exits (never signalled here)
    first.says(ipc.WorkerStarted(worker, "a"))
    h.turn()
    h.exits_with(first, status_of(killed_by=signal.SIGKILL))
    h.turn()
    m = h.master
    assert m.listeners.current is None and m.listeners.orphans == {worker: "a"}
    assert m.listeners.next_start_at > time.monotonic()  # backoff: not at once
    assert not m.stopping and m.exit_code == 0
    m.listeners.next_start_at = 0.0  # the backoff has passed
    h.turn()
    second = h.current
    assert second.number == 2 and second.spec["reload"] is False
    assert second.heard() == [ipc.WorkerStarted(worker, "a")]  # the orphan keeps its slot


def test_ttin_and_ttou_during_a_reload_go_to_the_new_listener(monkeypatch):
    h = Harness(monkeypatch)
    first = h.started_and_ready()
    first.says(ipc.Held(0))  # its slots are filled
    m = h.master
    m.handle_ttin()
    assert first.heard() == [ipc.Count(3)]
    m.handle_hup()  # a reload starts again from the config's size
    assert m.pool_delta == 0
    m.handle_ttin()  # before the new listener starts: it is started with the new size
    h.turn()
    second = h.current
    assert '"worker_processes": 3' in second.spec["overrides"]
    m.handle_ttou()
    m.handle_ttou()
    assert second.heard() == [ipc.Count(2), ipc.Count(1)] and first.heard() == []
    for _ in range(3):
        m.handle_ttou()  # never below zero workers
    assert second.heard() == [ipc.Count(0)] and m.pool_delta == -2
    second.says(ipc.Running(0, VIEW))
    h.turn()
    assert first.heard() == [ipc.Retire()] and m.reloads == {"ok": 1}


def test_an_older_listener_s_replacements_and_held_slots_reach_the_new_one_in_order(monkeypatch):
    """Issue 23 (defect 5): what the retiring listener starts while the new one boots is
    counted by the new one, and a slot it will refill is never shown free in between."""
    h = Harness(monkeypatch)
    first = h.started_and_ready()
    a, b, c = FAKE_PID + 100, FAKE_PID + 101, FAKE_PID + 102
    first.says(ipc.WorkerStarted(a, "q"), ipc.WorkerStarted(b, "q"), ipc.Held(0))
    h.turn()
    h.master.handle_hup()
    h.turn()
    second = h.current
    assert second.heard() == [ipc.WorkerStarted(a, "q"), ipc.WorkerStarted(b, "q")]
    # a dies while #2 boots; #1 replaces it (after a backoff, say) with c
    first.says(ipc.Held(1), ipc.WorkerExited(a, "killed by SIGKILL"))
    h.turn()
    assert second.heard() == [ipc.Held(1), ipc.WorkerExited(a)]  # the slot stays taken
    first.says(ipc.WorkerStarted(c, "q"), ipc.Held(0))
    h.turn()
    assert second.heard() == [ipc.WorkerStarted(c, "q"), ipc.Held(0)]
    second.says(ipc.Running(2, VIEW))
    h.turn()
    assert first.heard() == [ipc.Retire()] and first.signals == []
    first.says(ipc.WorkerExited(b, "exited"), ipc.WorkerExited(c, "exited"))
    h.turn()
    assert second.heard() == [ipc.WorkerExited(b), ipc.WorkerExited(c)]


def test_held_slots_of_a_listener_that_never_reported_are_its_whole_table(monkeypatch):
    """A listener that got ready but has not said which slots it filled holds them all; the
    hold is let go when it exits."""
    h = Harness(monkeypatch)
    first = h.started_and_ready(workers=3)
    h.master.handle_hup()
    h.turn()
    second = h.current
    assert second.heard() == [ipc.Held(3)]
    h.exits_with(first, status_of(0))
    h.turn()
    assert second.heard() == [ipc.Held(0)]


def test_a_listener_booting_too_long_is_stopped_and_the_reload_fails(monkeypatch):
    h = Harness(monkeypatch)
    first = h.started_and_ready()
    h.master.boot_timeout_flag = 30.0
    h.master.handle_hup()
    h.turn()
    second = h.current
    second.started -= 31
    h.turn()
    assert second.signals == [signal.SIGKILL] and second.failure == "not ready after 30s"
    h.exits_with(second, status_of(killed_by=signal.SIGKILL))
    h.turn()
    assert h.master.listeners.current is first
    assert h.master.last_reload is not None
    assert h.master.last_reload["error"] == "not ready after 30s"


def test_quit_waits_for_the_listeners_and_term_kills_after_the_timeout(monkeypatch):
    h = Harness(monkeypatch, MasterView(pool_size=1, workers=1, shutdown_timeout=5.0))
    first = h.started_and_ready(workers=1)
    m = h.master
    m.handle_quit()
    assert first.signals == [signal.SIGQUIT] and not h.turn()
    m.handle_term()
    assert first.signals == [signal.SIGQUIT, signal.SIGTERM]
    m.kill_at = time.monotonic() - 1  # the shutdown timeout passed
    assert not h.turn()
    assert first.signals[-1] == signal.SIGKILL
    h.exits_with(first, status_of(killed_by=signal.SIGKILL))
    assert h.turn() is True


def test_a_compat_stop_exits_without_waiting(monkeypatch):
    view = MasterView(pool_size=1, compat=Compat(stop={"INT": "quit-exit"}))
    h = Harness(monkeypatch, view)
    first = h.started_and_ready(workers=1, view=view)
    h.master.handle_int()
    assert first.signals == [signal.SIGQUIT]
    assert h.turn() is True  # resque-pool's INT: the workers finish on their own


def test_winch_stops_the_workers_and_hup_starts_them_again(monkeypatch):
    view = MasterView(pool_size=1, compat=Compat(winch="always"))
    h = Harness(monkeypatch, view)
    first = h.started_and_ready(workers=1, view=view)
    h.master.handle_winch()
    assert first.signals == [signal.SIGQUIT] and h.master.workers_stopped
    h.exits_with(first, status_of(0))
    h.turn()
    assert h.master.listeners.current is None and h.master.listeners.generation == 1
    h.master.handle_hup()
    second = h.started_and_ready(workers=1, view=view)
    assert second.number == 2 and not h.master.workers_stopped


def test_the_state_a_usr2_hands_over_is_adopted_by_the_new_image(monkeypatch):
    h = Harness(monkeypatch)
    first = h.started_and_ready()
    first.says(ipc.WorkerStarted(FAKE_PID + 100, "a"), ipc.WorkerExited(FAKE_PID + 99, "max_age"))
    h.turn()
    h.master.handle_ttin()
    state = h.master.saved()
    assert state.current == first.pid and state.pool_delta == 1
    assert state.replacements == {"max_age": 1}
    other = Harness(monkeypatch)
    other.master.adopt(type(state).from_json(state.to_json()))
    adopted = other.master.listeners.current
    assert adopted is not None and adopted.pid == first.pid and adopted.ready
    assert adopted.workers == {FAKE_PID + 100: "a"} and other.master.pool_delta == 1
    assert other.master.ever_ready and other.master.replacements == {"max_age": 1}
    assert not other.turn() and other.master.listeners.generation == 1  # nothing restarts


def reload_under_way(h: Harness) -> tuple[FakeListener, FakeListener, list[int]]:
    """#1 runs two workers; a HUP's #2 got ready: #1 is retiring them one at a time."""
    first = h.started_and_ready()
    pids = [FAKE_PID + 100, FAKE_PID + 101]
    first.says(*(ipc.WorkerStarted(p, "q") for p in pids), ipc.Held(0))
    h.turn()
    h.master.handle_hup()
    h.turn()
    second = h.current
    second.says(ipc.Running(2, VIEW))
    h.turn()
    second.heard()
    assert first.heard() == [ipc.Retire()] and first.signals == [] and first.rolling
    return first, second, pids


def test_a_reload_retires_the_older_workers_one_at_a_time_as_the_new_listener_asks(monkeypatch):
    """Issue 18: each NEXT of the new listener (its last replacement is up) stops one more
    older worker; the older listener is never told to QUIT them all."""
    h = Harness(monkeypatch)
    first, second, (a, b) = reload_under_way(h)
    second.says(ipc.Next())
    h.turn()
    assert first.heard() == [ipc.Retire(a)]
    first.says(ipc.WorkerExited(a))
    h.turn()
    assert second.heard() == [ipc.WorkerExited(a)]
    first.says(ipc.Next())  # only the current listener drives the hand-over
    h.turn()
    assert first.heard() == []
    second.says(ipc.Next())
    h.turn()
    assert first.heard() == [ipc.Retire(b)]
    second.says(ipc.Next())  # asked again while b finishes a long job: none left to name
    h.turn()
    assert first.heard() == [] and first.signals == []
    first.says(ipc.WorkerExited(b))
    h.exits_with(first, status_of(0))
    h.turn()
    assert not h.master.listeners.rolling and h.all() == [second]


def test_a_rolling_hand_over_falls_back_to_quit_all_when_the_new_listener_dies(monkeypatch):
    h = Harness(monkeypatch)
    first, second, _ = reload_under_way(h)
    h.exits_with(second, status_of(1))
    h.turn()
    assert first.signals == [signal.SIGQUIT] and not first.rolling


def test_a_rolling_hand_over_that_stalls_past_the_boot_timeout_falls_back(monkeypatch):
    h = Harness(monkeypatch)
    first, second, _ = reload_under_way(h)
    h.turn()
    assert first.signals == []  # not stalled yet
    h.master.listeners.rolled_at -= h.master.boot_timeout + 1  # no step for that long
    h.turn()
    assert first.signals == [signal.SIGQUIT] and not h.master.listeners.rolling


def test_a_second_hup_during_a_rolling_hand_over_keeps_both_older_listeners_working(monkeypatch):
    h = Harness(monkeypatch)
    first, second, (a, b) = reload_under_way(h)
    second.says(ipc.Next())
    h.turn()
    assert first.heard() == [ipc.Retire(a)]
    h.master.handle_hup()
    h.turn()
    third = h.current
    second.says(ipc.Next())  # no longer the current one: ignored
    h.turn()
    assert first.heard() == [] and second.heard() == []
    third.says(ipc.Running(2, VIEW))
    h.turn()
    assert second.heard()[-1] == ipc.Retire() and first.signals == second.signals == []
    second.says(ipc.WorkerStarted(FAKE_PID + 200, "q"))
    third.says(ipc.Next(), ipc.Next())
    h.turn()
    assert first.heard() == [ipc.Retire(b)]  # the oldest first
    assert second.heard() == [ipc.Retire(FAKE_PID + 200)]


def test_winch_and_quit_during_a_rolling_hand_over_stop_every_worker(monkeypatch):
    h = Harness(monkeypatch)
    first, second, _ = reload_under_way(h)
    h.master.handle_quit()
    assert first.signals == second.signals == [signal.SIGQUIT]
    assert not h.master.listeners.rolling


def test_a_listener_of_an_older_image_is_retired_with_quit(monkeypatch):
    """A listener adopted from an image that knows no RETIRE: its workers stop at once."""
    h = Harness(monkeypatch)
    first = h.started_and_ready()
    first.rolls = False
    h.master.handle_hup()
    h.started_and_ready()
    assert first.signals == [signal.SIGQUIT] and first.heard() == []


class PassedUpgrade:
    """A USR2 whose preflight passed: records the exec instead of making it."""

    def __init__(self) -> None:
        self.execs: list[Any] = []

    def poll(self) -> bool:
        return True

    def exec(self, state: Any, fds: list[int]) -> None:
        self.execs.append(state)


def test_a_usr2_during_a_rolling_hand_over_falls_back_before_the_exec(monkeypatch):
    h = Harness(monkeypatch)
    first, second, _ = reload_under_way(h)
    upgrade = PassedUpgrade()
    h.master.upgrade = upgrade  # type: ignore[assignment]
    h.master.check_upgrade()
    assert first.signals == [signal.SIGQUIT] and len(upgrade.execs) == 1
    state = upgrade.execs[0]
    assert [r.rolls for r in state.listeners] == [True, True]
    adopted = type(state).from_json(state.to_json()).listeners
    assert [r.rolls for r in adopted] == [True, True]


def test_the_next_older_worker_waits_while_a_retiring_listener_still_starts_one(monkeypatch):
    """A HUP soon after another: the retiring listener's last replacement is not up yet, so
    the NEXT is held until its STATS say none of its workers is starting."""
    h = Harness(monkeypatch)
    first = h.started_and_ready()
    a, b = FAKE_PID + 100, FAKE_PID + 101
    first.says(ipc.WorkerStarted(a, "q"), ipc.WorkerStarted(b, "q"), ipc.Held(0))
    first.says(ipc.Stats({"workers": {"starting": 1, "waiting": 1}}))
    h.turn()
    h.master.handle_hup()
    h.turn()
    second = h.current
    second.says(ipc.Running(2, VIEW), ipc.Next())
    h.turn()
    assert first.heard() == [ipc.Retire()]  # not yet a worker
    h.turn()
    assert first.heard() == []
    first.says(ipc.Stats({"workers": {"starting": 0, "waiting": 2}}))
    h.turn()
    assert first.heard() == [ipc.Retire(a)]
    h.turn()
    assert first.heard() == []  # one NEXT, one worker
