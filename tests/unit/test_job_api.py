"""Job class resolution (a security boundary), job hooks and the producer API."""

from __future__ import annotations

import sys
import types

import pytest

import resqued
from resqued import hooks, job_hooks, jobs


@pytest.fixture(autouse=True)
def clean_registry(monkeypatch):
    monkeypatch.setattr(jobs, "_registry", {})
    monkeypatch.setattr(jobs, "_allowed", set())


def test_registered_ruby_names_resolve():
    @resqued.job("Mailers::Welcome")
    class Welcome:
        @staticmethod
        def perform(user):
            pass

    assert jobs.resolve("Mailers::Welcome") is Welcome
    assert (
        jobs.resolve(f"{__name__}.test_registered_ruby_names_resolve.<locals>.Welcome") is Welcome
    )


def test_a_class_without_perform_cannot_be_registered():
    with pytest.raises(TypeError, match="perform"):
        resqued.job("X")(type("X", (), {}))


def test_dotted_paths_resolve_only_in_allowed_modules():
    mod = types.ModuleType("myapp_jobs_t")

    class Export:
        @classmethod
        def perform(cls):
            pass

    mod.Export = Export
    sys.modules["myapp_jobs_t"] = mod
    try:
        with pytest.raises(jobs.UnknownJobClass, match="not registered"):
            jobs.resolve("myapp_jobs_t.Export")
        resqued.allow_module("myapp_jobs_t")
        assert jobs.resolve("myapp_jobs_t.Export") is Export
        # an allowed module never makes *other* modules reachable
        with pytest.raises(jobs.UnknownJobClass):
            jobs.resolve("os.system")
        with pytest.raises(jobs.UnknownJobClass):
            jobs.resolve("myapp_jobs_t.Missing")
    finally:
        del sys.modules["myapp_jobs_t"]


def test_resolution_never_imports():
    resqued.allow_module("json")
    before = set(sys.modules)
    with pytest.raises(jobs.UnknownJobClass):
        jobs.resolve("json.tool.Whatever")  # json.tool is not imported: stays unimported
    assert "json.tool" not in set(sys.modules) - before


class Recorder:
    calls: list = []

    @classmethod
    def before_perform_b(cls, *args):
        cls.calls.append(("before_b", args))

    @classmethod
    def before_perform_a(cls, *args):
        cls.calls.append(("before_a", args))

    @classmethod
    def around_perform_2(cls, *args):
        cls.calls.append("around2 in")
        yield
        cls.calls.append("around2 out")

    @classmethod
    def around_perform_1(cls, *args):
        cls.calls.append("around1 in")
        yield
        cls.calls.append("around1 out")

    @classmethod
    def perform(cls, *args):
        cls.calls.append(("perform", args))
        if args and args[0] == "fail":
            raise RuntimeError("boom")

    @classmethod
    def after_perform_x(cls, *args):
        cls.calls.append("after")

    @classmethod
    def on_failure_log(cls, exc, *args):
        cls.calls.append(("failure", str(exc), args))


def test_hooks_run_in_resque_order():
    Recorder.calls = []
    assert job_hooks.perform(Recorder, [1]) is True
    assert Recorder.calls == [
        ("before_a", (1,)),
        ("before_b", (1,)),
        "around1 in",
        "around2 in",
        ("perform", (1,)),
        "around2 out",
        "around1 out",
        "after",
    ]


def test_after_perform_only_on_success():
    Recorder.calls = []
    with pytest.raises(RuntimeError):
        job_hooks.perform(Recorder, ["fail"])
    assert "after" not in Recorder.calls
    hooks.on_failure(Recorder, RuntimeError("boom"), ["fail"])
    assert Recorder.calls[-1] == ("failure", "boom", ("fail",))


def test_dont_perform_skips_quietly():
    class Skip:
        ran = False

        @staticmethod
        def before_perform_check(*args):
            raise resqued.DontPerform()

        @classmethod
        def perform(cls):
            cls.ran = True

    assert job_hooks.perform(Skip, []) is False
    assert not Skip.ran


def test_an_around_hook_that_does_not_yield_skips_the_job():
    class Gate:
        ran = False

        @staticmethod
        def around_perform_gate(*args):
            return
            yield  # unreachable, but makes this a generator

        @classmethod
        def perform(cls):
            cls.ran = True

    assert job_hooks.perform(Gate, []) is False
    assert not Gate.ran


def test_a_failing_on_failure_hook_is_not_fatal():
    class Bad:
        @staticmethod
        def on_failure_explode(exc, *args):
            raise ValueError("hook broke")

    hooks.on_failure(Bad, RuntimeError("x"), [])  # logged, not raised


def test_enqueue_hooks_and_dequeue(r, redis_url):
    resqued.connect(redis_url)

    @resqued.job("Mail")
    class Mail:
        queue = "mail"
        seen: list = []

        @classmethod
        def before_enqueue_check(cls, *args):
            return args[0] != "blocked"

        @classmethod
        def after_enqueue_note(cls, *args):
            cls.seen.append(args)

        @classmethod
        def before_dequeue_check(cls, *args):
            return args != ("keep",)

        @staticmethod
        def perform(*args):
            pass

    assert resqued.enqueue(Mail, "blocked") is False
    assert r.llen("resque:queue:mail") == 0
    for arg in ("a", "b", "a", "keep"):
        assert resqued.enqueue(Mail, arg)
    assert Mail.seen == [("a",), ("b",), ("a",), ("keep",)]
    assert resqued.dequeue(Mail, "keep") == 0  # before_dequeue said no
    assert resqued.dequeue(Mail, "a") == 2
    assert r.lrange("resque:queue:mail", 0, -1) == [
        b'{"class":"Mail","args":["b"]}',
        b'{"class":"Mail","args":["keep"]}',
    ]
    assert resqued.dequeue(Mail) == 2  # no args: every Mail job
    assert r.llen("resque:queue:mail") == 0


def test_enqueue_without_a_queue_says_so(r, redis_url):
    resqued.connect(redis_url)

    class NoQueue:
        @staticmethod
        def perform():
            pass

    with pytest.raises(ValueError, match="no 'queue' attribute"):
        resqued.enqueue(NoQueue)


def test_worker_hooks_register_by_name():
    with pytest.raises(ValueError, match="unknown worker hook"):
        resqued.worker_hook("before_lunch")
    seen = []
    fn = resqued.worker_hook("queue_empty")(lambda: seen.append(1))
    try:
        hooks.run_worker_hooks("queue_empty")
        assert seen == [1]
    finally:
        hooks._worker_hooks["queue_empty"].remove(fn)
