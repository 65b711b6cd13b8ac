"""The new listener's side of a reload's rolling hand-over: when it asks for the next older worker."""

from __future__ import annotations

from resqued.listener.handover import STEP, ask_next

NOW = 1000.0


def test_asks_when_its_workers_are_up_and_every_slot_is_taken():
    assert ask_next(4, 4, 4, False, 0.0, NOW)  # the new listener just got ready
    assert ask_next(4, 4, 1, False, 0.0, NOW)  # the last older one


def test_waits_while_a_replacement_starts():
    assert not ask_next(4, 4, 3, True, 0.0, NOW)


def test_never_asks_with_a_free_slot():
    """A slot freed and not started yet, or crashing in backoff: one more retired would make
    two slots without a worker able to take a job."""
    assert not ask_next(4, 3, 2, False, 0.0, NOW)


def test_nothing_to_ask_for_without_older_workers():
    assert not ask_next(4, 4, 0, False, 0.0, NOW)


def test_asks_once_per_step_while_the_retired_worker_finishes_its_job():
    assert not ask_next(4, 4, 2, False, NOW - STEP / 2, NOW)
    assert ask_next(4, 4, 2, False, NOW - STEP, NOW)


def test_a_smaller_table_retires_the_surplus_too():
    """After TTOU the new listener has fewer slots than older workers: they go one by one."""
    assert ask_next(2, 4, 4, False, 0.0, NOW)
