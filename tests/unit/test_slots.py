"""The listener's decisions: which slots start, how long a slot waits, what a new table retires."""

from __future__ import annotations

import os
import signal

from resqued.config.model import WorkerRow
from resqued.listener import slots as s

A, B, C = WorkerRow(("a",)), WorkerRow(("b",)), WorkerRow(("c",))
CLEAN = 0  # wait status of exit(0)
CRASH = 1 << 8  # exit(1)
KILLED = signal.SIGKILL  # killed by a signal


def test_startable_fills_free_slots_in_order_up_to_the_total():
    table = s.build([A, B, C])
    assert [x.index for x in s.startable(table, running=0, now=0)] == [0, 1, 2]
    table[0].started(100, 0)
    assert [x.index for x in s.startable(table, running=1, now=0)] == [1, 2]
    # ours plus an older listener's worker still finishing: only one more may start
    assert [x.index for x in s.startable(table, running=2, now=0)] == [1]
    assert s.startable(table, running=3, now=0) == []


def test_held_counts_every_slot_without_a_worker_even_one_backing_off():
    table = s.build([A, B, C])
    assert s.held(table) == 3
    table[0].started(100, 0)
    table[1].started(101, 0)
    assert s.held(table) == 1
    table[1].exited(CRASH, 0.5, stopping=False)  # an early death: it backs off, still held
    assert table[1].not_before > 0 and s.held(table) == 2


def test_a_slot_backing_off_waits_its_turn():
    table = s.build([A, B])
    table[0].not_before = 10.0
    assert [x.index for x in s.startable(table, running=0, now=5.0)] == [1]
    assert [x.index for x in s.startable(table, running=0, now=10.0)] == [0, 1]


def test_early_crashes_back_off_and_grow():
    slot = s.Slot(0, A)
    delays = []
    for now in (0.0, 10.0, 20.0):
        slot.started(100, now)
        delays.append(slot.exited(CRASH, now + 0.5, stopping=False))
    assert 0 < delays[0] < delays[1] < delays[2]
    assert slot.not_before == 20.5 + delays[2]
    assert slot.last_reason == "exit status 1"


def test_a_worker_killed_after_a_while_is_replaced_at_once():
    slot = s.Slot(0, A)
    slot.started(100, 0.0)
    slot.exited(CRASH, 0.1, stopping=False)  # a crash first: backoff armed
    slot.started(101, 10.0)
    assert slot.exited(KILLED, 10.0 + s.EARLY_DEATH + 1, stopping=False) == 0.0
    assert slot.not_before == 0.0 and slot.backoff.failures == 0
    assert slot.last_reason == "killed by SIGKILL"


def test_clean_exits_and_shutdown_never_back_off():
    slot = s.Slot(0, A)
    slot.started(100, 0.0)
    assert slot.exited(CLEAN, 0.01, stopping=False) == 0.0
    slot.started(101, 1.0)
    assert slot.exited(CRASH, 1.01, stopping=True) == 0.0
    assert not slot.busy


def test_exit_reasons():
    assert s.exit_reason(CLEAN) == "exited"
    assert s.exit_reason(3 << 8) == "exit status 3"
    assert s.exit_reason(signal.SIGTERM) == "killed by SIGTERM"
    assert s.clean_exit(CLEAN) and not s.clean_exit(CRASH) and not s.clean_exit(KILLED)
    assert os.WIFSIGNALED(KILLED)


def test_reconcile_keeps_unchanged_rows_and_retires_removed_ones():
    table = s.build([A, B, C])
    for i, slot in enumerate(table):
        slot.started(100 + i, 0.0)
    table[0].backoff.failed()
    new, retire = s.reconcile(table, [A, C, WorkerRow(("d",))])
    assert new[0] is table[0] and new[0].backoff.failures == 1  # kept whole
    assert new[1] is table[2] and new[1].index == 1 and new[1].pid == 102  # c moved up
    assert new[2].row == WorkerRow(("d",)) and not new[2].busy  # a new row: a fresh slot
    assert [x.pid for x in retire] == [101]  # b's row went away


def test_reconcile_keeps_workers_whose_row_moved():
    table = s.build([A, A, B])  # a config_loader's rows: 2 on a, 1 on b
    for i, slot in enumerate(table):
        slot.started(100 + i, 0.0)
    new, retire = s.reconcile(table, [B])  # a scaled down to 0
    assert [x.pid for x in new] == [102] and new[0].index == 0  # b's worker stays
    assert sorted(x.pid for x in retire) == [100, 101]


def test_reconcile_growing_adds_free_slots():
    table = s.build([A])
    table[0].started(100, 0.0)
    new, retire = s.reconcile(table, [A, B, B])
    assert [x.row for x in new] == [A, B, B] and retire == []
    assert new[0].pid == 100 and not new[1].busy
