"""A job child's pieces without a worker: its signal table, its report, the class hook lookup."""

from __future__ import annotations

import gc
import json
import os
import signal
import weakref

import pytest

from resqued import job_hooks
from resqued.worker import signals
from resqued.worker.job_child import freeze_for_fork
from resqued.worker.job_report import MAX_RESULT_BYTES, SUCCESS, read, report_bytes
from resqued.worker.outcome import Outcome


def test_a_job_child_gets_default_dispositions_and_term_raises_in_the_job():
    def worker_handler(signum, frame):
        pass

    pid = os.fork()
    if pid == 0:  # in a child, not to change this process's signal table
        code = 1
        try:
            for name in signals.SIGNALS:
                signal.signal(getattr(signal, "SIG" + name), worker_handler)
            signals.reset_in_job_child()
            others = [getattr(signal, "SIG" + n) for n in signals.SIGNALS if n != "TERM"]
            ok = all(signal.getsignal(s) == signal.SIG_DFL for s in others)
            try:
                signal.raise_signal(signal.SIGTERM)
            except signals.TermException:
                ok = ok and signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
            else:
                ok = False
            code = 0 if ok else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def test_a_success_reports_the_constant_empty_report():
    assert report_bytes(Outcome()) == SUCCESS == json.dumps({}).encode()
    assert read(SUCCESS) == Outcome() and read(b"{}") == Outcome()


def test_what_is_not_a_childs_report_reads_as_none():
    for data in (b"garbage", b"[1]", b'{"exception": "E"}', b"null"):
        assert read(data) is None


@pytest.mark.parametrize(
    "error, backtrace",
    [
        ("x" * 100_000, ["frame"] * 1_000),  # long text, many lines
        ("\x01" * 50_000, ["\x02" * 20_000] * 30),  # text escaped to 6 bytes a character
    ],
)
def test_a_failure_report_always_fits_the_pipe(error, backtrace):
    data = report_bytes(Outcome("E" * 5_000, error, backtrace))
    assert len(data) <= MAX_RESULT_BYTES
    report = json.loads(data)
    assert report["exception"].startswith("EEE")
    assert report["error"].startswith(error[:100])
    assert 0 < len(report["backtrace"]) <= 20


def test_a_small_failure_report_is_kept_whole():
    outcome = Outcome("RuntimeError", "boom", ["a.py:1", "b.py:2"])
    assert read(report_bytes(outcome)) == outcome


def test_a_class_without_hooks_is_performed_directly_and_one_with_hooks_is_not():
    calls = []

    class Plain:
        @staticmethod
        def perform(*args):
            calls.append(("plain", args))

    class Hooked:
        @staticmethod
        def before_perform_note(*args):
            calls.append(("before", args))

        @staticmethod
        def perform(*args):
            calls.append(("hooked", args))

    job_hooks.warm(Plain)
    assert job_hooks.perform(Plain, [1]) is True
    assert job_hooks.perform(Hooked, [2]) is True
    assert calls == [("plain", (1,)), ("before", (2,)), ("hooked", (2,))]


def test_cyclic_garbage_made_between_forks_is_collected_not_frozen_for_good():
    class Node:
        pass

    was_enabled = gc.isenabled()
    gc.disable()  # only the collection freeze_for_fork makes may reclaim the cycle
    try:
        node = Node()
        node.me = node  # a cycle: reference counting alone never frees it
        gone = weakref.ref(node)
        del node
        freeze_for_fork()
        assert gone() is None
    finally:
        gc.unfreeze()
        if was_enabled:
            gc.enable()
