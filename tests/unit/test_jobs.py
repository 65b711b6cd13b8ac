"""Job classes (resolution is a security boundary), Resque's job hooks, and the producer API."""

from __future__ import annotations

import logging
import sys
import types

import pytest

import resqued
from resqued import hooks, job_hooks, jobs


@pytest.fixture(autouse=True)
def clean_jobs(monkeypatch):
    monkeypatch.setattr(jobs, "_registry", {})
    monkeypatch.setattr(jobs, "_allowed", set())


@pytest.fixture
def fake_module():
    """A module ``fakeapp.jobs`` (already imported) holding one job class and a helper."""
    pkg, mod = types.ModuleType("fakeapp"), types.ModuleType("fakeapp.jobs")

    class Export:
        @classmethod
        def perform(cls, *args):
            return args

        class Inner:
            @staticmethod
            def perform():
                pass

    class NotAJob:
        pass

    mod.Export, mod.NotAJob, mod.os = Export, NotAJob, __import__("os")
    mod.helper = lambda: None
    pkg.jobs = mod
    sys.modules.update({"fakeapp": pkg, "fakeapp.jobs": mod})
    yield mod
    del sys.modules["fakeapp"], sys.modules["fakeapp.jobs"]


# -- resolution -------------------------------------------------------------------------------------


def test_registered_ruby_style_names_resolve(clean_jobs):
    @resqued.job("Mailers::Welcome")
    class Welcome:
        @staticmethod
        def perform(user_id):
            pass

    @resqued.job()
    class Plain:
        @staticmethod
        def perform():
            pass

    assert jobs.resolve("Mailers::Welcome") is Welcome
    assert jobs.name_of(Welcome) == "Mailers::Welcome"
    assert jobs.name_of(Plain) == jobs.dotted_name(Plain)
    assert jobs.resolve(jobs.dotted_name(Plain)) is Plain
    with pytest.raises(jobs.UnknownJobClass):
        jobs.resolve("Mailers::Goodbye")
    with pytest.raises(jobs.UnknownJobClass):
        jobs.resolve("Welcome")  # only the registered name, not the bare class name


def test_a_class_without_perform_cannot_be_registered():
    with pytest.raises(TypeError, match="perform"):
        resqued.job("X")(type("X", (), {}))


def test_dotted_paths_only_inside_allowed_modules(clean_jobs, fake_module):
    with pytest.raises(jobs.UnknownJobClass):
        jobs.resolve("fakeapp.jobs.Export")  # imported, but nobody allowed it
    resqued.allow_module("fakeapp.jobs")
    assert jobs.resolve("fakeapp.jobs.Export") is fake_module.Export
    assert jobs.resolve("fakeapp.jobs.Export.Inner") is fake_module.Export.Inner
    for name in (
        "fakeapp.jobs.NotAJob",  # no perform
        "fakeapp.jobs.helper",  # not a class
        "fakeapp.jobs.os.system",  # a module the allowed module imported
        "fakeapp.jobs.os.path",
        "fakeapp.jobs.Missing",
        "fakeapp.Export",  # the parent package is not allowed
        "fakeapp.jobsX.Export",
        "os.system",
        "subprocess.Popen",
        "builtins.object",
        "",
    ):
        with pytest.raises(jobs.UnknownJobClass):
            jobs.resolve(name)


def test_allowing_a_package_covers_its_submodules(clean_jobs, fake_module):
    resqued.allow_module("fakeapp")
    assert jobs.resolve("fakeapp.jobs.Export") is fake_module.Export


def test_resolution_never_imports(clean_jobs):
    resqued.allow_module("email")
    resqued.allow_module("xml")
    resqued.allow_module("json")
    before = set(sys.modules)
    for name in (
        "email.mime.audio.MIMEAudio",
        "xml.dom.minidom.Document",
        "antigravity.Fly",
        "this.Zen",
        "json.tool.Whatever",  # json is imported, json.tool is not: it stays so
    ):
        with pytest.raises(jobs.UnknownJobClass, match="not registered"):
            jobs.resolve(name)
    assert set(sys.modules) == before


def test_unknown_class_error_says_what_to_do(clean_jobs):
    with pytest.raises(jobs.UnknownJobClass) as err:
        jobs.resolve("Billing::Charge")
    assert "'Billing::Charge'" in str(err.value)
    assert "@resqued.job" in str(err.value) and "-r" in str(err.value)


# -- job hooks -------------------------------------------------------------------------------------


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


def test_a_failing_on_failure_hook_is_logged_and_the_others_still_run(caplog):
    seen = []

    class Bad:
        @staticmethod
        def on_failure_a_explode(exc, *args):
            raise ValueError("hook broke")

        @staticmethod
        def on_failure_b_note(exc, *args):
            seen.append((str(exc), args))

    logger = logging.getLogger("resqued")
    logger.addHandler(caplog.handler)
    try:
        hooks.on_failure(Bad, RuntimeError("x"), [1])  # logged, not raised
    finally:
        logger.removeHandler(caplog.handler)
    assert seen == [("x", (1,))]
    [line] = {rec.getMessage() for rec in caplog.records}  # one line, however it reached caplog
    assert "on_failure hook" in line and "on_failure_a_explode" in line
    assert "ValueError: hook broke" in line


class Trace:
    calls: list = []

    @classmethod
    def around_perform_b(cls, *args):
        cls.calls.append("b in")
        yield
        cls.calls.append("b out")

    @classmethod
    def around_perform_a(cls, *args):
        cls.calls.append("a in")
        yield
        cls.calls.append("a out")

    @classmethod
    def around_perform_c_swallow(cls, *args):
        try:
            yield
        except KeyError:
            cls.calls.append("c swallowed")

    @classmethod
    def perform(cls, *args):
        cls.calls.append(("perform", args))
        if args == ("keyerror",):
            raise KeyError("k")
        if args == ("valueerror",):
            raise ValueError("v")

    @classmethod
    def after_perform(cls, *args):
        cls.calls.append("after")

    @classmethod
    def on_failure_x(cls, exc, *args):
        cls.calls.append(("on_failure", type(exc).__name__, args))


def test_around_hooks_nest_alphabetically():
    Trace.calls = []
    assert job_hooks.perform(Trace, [1, "x"]) is True
    assert Trace.calls == ["a in", "b in", ("perform", (1, "x")), "b out", "a out", "after"]


def test_an_around_hook_may_handle_the_exception():
    Trace.calls = []
    assert job_hooks.perform(Trace, ["keyerror"]) is True
    assert Trace.calls == [
        "a in",
        "b in",
        ("perform", ("keyerror",)),
        "c swallowed",
        "b out",
        "a out",
        "after",
    ]


def test_an_exception_goes_through_the_around_hooks_and_skips_after():
    Trace.calls = []
    with pytest.raises(ValueError):
        job_hooks.perform(Trace, ["valueerror"])
    assert Trace.calls == ["a in", "b in", ("perform", ("valueerror",))]
    hooks.on_failure(Trace, ValueError("v"), ["valueerror"])
    assert Trace.calls[-1] == ("on_failure", "ValueError", ("valueerror",))


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


# -- enqueue and dequeue, against Redis -------------------------------------------------------------


class Mail:
    queue = "mail"
    calls: list = []

    @staticmethod
    def perform(*args):
        pass

    @classmethod
    def before_enqueue_b(cls, *args):
        cls.calls.append(("before_enqueue_b", args))
        return args != ("veto",) and None  # None and other values do not cancel

    @classmethod
    def before_enqueue_a(cls, *args):
        cls.calls.append(("before_enqueue_a", args))
        return 0  # falsy but not False: the enqueue goes on

    @classmethod
    def after_enqueue_x(cls, *args):
        cls.calls.append(("after_enqueue", args))

    @classmethod
    def before_dequeue_x(cls, *args):
        cls.calls.append(("before_dequeue", args))
        return False if args == ("keep",) else None

    @classmethod
    def after_dequeue_x(cls, *args):
        cls.calls.append(("after_dequeue", args))


@pytest.fixture
def producer(r, redis_url, clean_jobs):
    resqued.connect(redis_url)
    resqued.job("Mail::Send")(Mail)
    Mail.calls = []
    return r


def test_before_enqueue_returning_false_cancels(producer):
    r = producer
    assert resqued.enqueue(Mail, "veto") is False
    assert Mail.calls == [("before_enqueue_a", ("veto",)), ("before_enqueue_b", ("veto",))]
    assert not r.exists("resque:queue:mail") and not r.exists("resque:queues")
    assert resqued.enqueue(Mail, "go", 1) is True
    assert Mail.calls[2:] == [
        ("before_enqueue_a", ("go", 1)),
        ("before_enqueue_b", ("go", 1)),
        ("after_enqueue", ("go", 1)),
    ]
    assert r.lrange("resque:queue:mail", 0, -1) == [b'{"class":"Mail::Send","args":["go",1]}']


def test_dequeue_with_args_removes_exact_matches(producer):
    r = producer
    for args in (["a", 1], ["b"], ["a", 1], ["a", 2]):
        resqued.enqueue(Mail, *args)
    resqued.enqueue_to("mail", "Other::Job", "a", 1)
    Mail.calls = []
    assert resqued.dequeue(Mail, "a", 1) == 2
    assert Mail.calls == [("before_dequeue", ("a", 1)), ("after_dequeue", ("a", 1))]
    assert r.lrange("resque:queue:mail", 0, -1) == [
        b'{"class":"Mail::Send","args":["b"]}',
        b'{"class":"Mail::Send","args":["a",2]}',
        b'{"class":"Other::Job","args":["a",1]}',
    ]


def test_dequeue_without_args_removes_every_job_of_the_class(producer):
    r = producer
    resqued.enqueue(Mail, "a")
    resqued.enqueue_to("mail", "Other::Job", "a")
    r.rpush("resque:queue:mail", b"{not json")
    resqued.enqueue(Mail, "b", {"x": "ü"})
    Mail.calls = []
    assert resqued.dequeue(Mail) == 2
    assert Mail.calls == [("before_dequeue", ()), ("after_dequeue", ())]
    assert r.lrange("resque:queue:mail", 0, -1) == [
        b'{"class":"Other::Job","args":["a"]}',
        b"{not json",
    ]


def test_before_dequeue_returning_false_cancels(producer):
    r = producer
    resqued.enqueue(Mail, "keep")
    Mail.calls = []
    assert resqued.dequeue(Mail, "keep") == 0
    assert Mail.calls == [("before_dequeue", ("keep",))]
    assert r.llen("resque:queue:mail") == 1


def test_dequeue_by_name_finds_what_ruby_enqueued(producer):
    r = producer
    r.rpush("resque:queue:mail", b'{"class":"Mail::Send","args":["r\xc3\xbcby"]}')
    assert resqued.dequeue("Mail::Send", "rüby", queue="mail") == 1
    assert r.llen("resque:queue:mail") == 0


def test_enqueue_without_a_queue_says_so(r, redis_url):
    resqued.connect(redis_url)

    class NoQueue:
        @staticmethod
        def perform():
            pass

    with pytest.raises(ValueError, match="no 'queue' attribute"):
        resqued.enqueue(NoQueue)


def test_the_readme_producer_example_works_as_documented(r, redis_url):
    @resqued.job("Archive")
    class Archive:
        queue = "file_serve"

        @staticmethod
        def perform(repo_id, branch="master"):
            pass

    assert isinstance(resqued.connect(redis_url), resqued.producer.Store)
    assert resqued.enqueue(Archive, 35, "tar") is True
    assert r.lrange("resque:queue:file_serve", 0, -1) == [b'{"class":"Archive","args":[35,"tar"]}']
    assert resqued.enqueue_to("critical", Archive, 36) is True
    assert resqued.enqueue_to("mail", "Mailers::Welcome", 7) is True
    assert r.lrange("resque:queue:critical", 0, -1) == [b'{"class":"Archive","args":[36]}']
    assert r.lrange("resque:queue:mail", 0, -1) == [b'{"class":"Mailers::Welcome","args":[7]}']
    assert r.smembers("resque:queues") == {b"file_serve", b"critical", b"mail"}
    resqued.enqueue(Archive, 35, "tar")
    resqued.enqueue(Archive, 1)
    assert resqued.dequeue(Archive, 35, "tar") == 2  # removes matching jobs, returns how many
    assert resqued.dequeue(Archive) == 1  # no args: all of the class
    assert r.llen("resque:queue:file_serve") == 0
    assert resqued.dequeue("Mailers::Welcome", 7, queue="mail") == 1  # a class by name
    assert resqued.dequeue(Archive, 36, queue="critical") == 1


def test_producer_mistakes_get_errors_that_say_what_to_do(r, redis_url):
    resqued.connect(redis_url)

    class Archive:
        queue = "file_serve"

        @staticmethod
        def perform(*args):
            pass

    with pytest.raises(ValueError, match=r"enqueue_to\(queue, 'Mailers::Welcome'"):
        resqued.enqueue("Mailers::Welcome", 7)
    with pytest.raises(ValueError, match=r"queue=\.\.\."):
        resqued.dequeue("Mailers::Welcome", 7)
    with pytest.raises(ValueError, match="non-empty string"):
        resqued.enqueue_to("", Archive, 1)
    with pytest.raises(TypeError, match=r"Archive: job arguments must be JSON values"):
        resqued.enqueue(Archive, object())
    assert r.keys("*") == []  # nothing was queued
