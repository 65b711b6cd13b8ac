"""A worker whose listener died holds the hard memory limit itself (resqued/worker/orphaned.py)."""

from __future__ import annotations

import os

from resqued.process.memory import pss
from resqued.worker import orphaned
from resqued.worker.options import WorkerOptions


def test_it_watches_only_with_a_limit_and_a_listener_that_is_gone():
    gone = os.getppid() + 1  # a parent pid that is not ours: the listener is gone
    assert orphaned.watching(WorkerOptions(memory_limit=1, parent_pid=gone))
    assert not orphaned.watching(WorkerOptions(memory_limit=1, parent_pid=os.getppid()))
    assert not orphaned.watching(WorkerOptions(memory_limit=0, parent_pid=gone))
    assert not orphaned.watching(WorkerOptions(memory_limit=1, parent_pid=0))  # resqued work


def test_above_the_limit_it_says_so_as_the_listener_does():
    used = pss(os.getpid())
    assert used
    message = orphaned.above_limit(1024, os.getpid())
    assert message is not None
    assert message.startswith("job killed: its worker used ")
    assert message.endswith(
        "(PSS), above the hard memory limit of 1KiB; the worker process was killed"
    )
    assert orphaned.above_limit(used * 4, os.getpid()) is None


def test_a_worker_that_is_gone_is_never_above():
    assert orphaned.above_limit(1, 0x7FFFFFF0) is None
