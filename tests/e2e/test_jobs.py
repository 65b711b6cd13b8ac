"""Job class resolution (a security boundary) and Resque's job and worker hooks."""

from __future__ import annotations

import signal
import sys
import types

import pytest
from support.jobs import failures, push, strings, work, worker_id
from support.procs import wait_for

import resqued
from resqued import hooks, job_hooks, jobs


@pytest.fixture
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


# -- resolution --------------------------------------------------------------------------------


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
    before = set(sys.modules)
    for name in (
        "email.mime.audio.MIMEAudio",
        "xml.dom.minidom.Document",
        "antigravity.Fly",
        "this.Zen",
    ):
        with pytest.raises(jobs.UnknownJobClass, match="not registered"):
            jobs.resolve(name)
    assert set(sys.modules) == before


def test_unknown_class_error_says_what_to_do(clean_jobs):
    with pytest.raises(jobs.UnknownJobClass) as err:
        jobs.resolve("Billing::Charge")
    assert "'Billing::Charge'" in str(err.value)
    assert "@resqued.job" in str(err.value) and "-r" in str(err.value)


def test_unknown_and_unimported_classes_fail_and_the_worker_goes_on(resqued, app_dir, r):
    push(r, "default", "Nope::Missing", 1)
    push(r, "default", "evil_import.Boom", 2)  # a real module next to the app: never imported
    push(r, "default", "os.system", "touch /tmp/pwned")
    push(r, "default", "demo_jobs.Record", "by-path")  # -r demo_jobs allows its dotted paths
    push(r, "default", "Record", "by-name")
    w = work(resqued, app_dir, "-q", "default")
    wid = worker_id(r)
    wait_for(lambda: r.llen("record") == 2, 15, "the good jobs after the bad ones")
    assert [x.split(":")[0] for x in strings(r, "record")] == ["by-path", "by-name"]
    recs = failures(r)
    assert [f["payload"]["class"] for f in recs] == [
        "Nope::Missing",
        "evil_import.Boom",
        "os.system",
    ]
    for rec in recs:
        assert rec["exception"] == "resqued.UnknownJobClass"
        assert repr(rec["payload"]["class"]) in rec["error"]
        assert "not registered" in rec["error"]
        assert rec["worker"] == wid and rec["queue"] == "default"
    assert not r.exists("evil-imported")
    wait_for(lambda: r.get("resque:stat:processed") == b"5", 10, "all five counted")
    assert r.get("resque:stat:failed") == b"3"
    assert w.popen.poll() is None


# -- job hooks, in a real worker ----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["--fork", "--no-fork"])
def test_hooks_around_a_successful_job(resqued, app_dir, r, mode):
    w = work(resqued, app_dir, "-q", "default", mode, lib="hook_jobs")
    push(r, "default", "Hooks::Full", "ok")
    wait_for(lambda: "after" in strings(r, "events"), 15, "job done")
    events = [e for e in strings(r, "events") if not e.startswith("w:")]
    assert events[:4] == ["before_a", "before_b", "around_a in", "around_b in"]
    assert events[4].startswith("perform:")
    assert events[5:] == ["around_b out", "around_a out", "after"]
    performed_in = int(events[4].split(":")[1])
    assert (performed_in != w.pid) == (mode == "--fork")
    assert r.llen("resque:failed") == 0


def test_after_perform_only_on_success_and_on_failure_exactly_once(resqued, app_dir, r):
    work(resqued, app_dir, "-q", "default", lib="hook_jobs")
    push(r, "default", "Hooks::Full", "fail")
    wait_for(lambda: r.llen("resque:failed") == 1, 15, "failure recorded")
    events = [e for e in strings(r, "events") if not e.startswith("w:")]
    assert events[:4] == ["before_a", "before_b", "around_a in", "around_b in"]
    assert events[5:] == ["on_failure:ValueError:job said no:fail"]  # no "out", no "after"
    rec = failures(r)[0]
    assert rec["exception"] == "ValueError" and rec["error"] == "job said no"


def test_dont_perform_skips_the_job_quietly(resqued, app_dir, r):
    work(resqued, app_dir, "-q", "default", "--no-fork", lib="hook_jobs")
    push(r, "default", "Hooks::Full", "skip")
    push(r, "default", "Hooks::Full", "ok")
    wait_for(lambda: "after" in strings(r, "events"), 15, "the next job")
    events = [e for e in strings(r, "events") if not e.startswith("w:")]
    assert events[0] == "before_a"  # DontPerform: not even the next before hook
    assert events[1] == "before_a" and events.count("after") == 1
    assert sum(e.startswith("perform:") for e in events) == 1
    assert r.llen("resque:failed") == 0
    wait_for(lambda: r.get("resque:stat:processed") == b"2", 10, "both counted as processed")


def test_on_failure_runs_once_for_a_dirty_exit(resqued, app_dir, r):
    w = work(resqued, app_dir, "-q", "default", lib="hook_jobs")
    push(r, "default", "Hooks::SelfKill", "k")
    push(r, "default", "Hooks::Full", "ok")
    wait_for(lambda: "after" in strings(r, "events"), 15, "the next job")
    [rec] = failures(r)
    assert rec["exception"] == "Resque::DirtyExit"
    assert "SIGKILL (signal 9)" in rec["error"]
    hooked = [e for e in strings(r, "events") if e.startswith("on_failure")]
    assert len(hooked) == 1 and hooked[0].startswith("on_failure:") and hooked[0].endswith(":k")
    assert "SIGKILL" in hooked[0]
    w.signal(signal.SIGQUIT)
    assert w.wait(20) == 0
    assert len([e for e in strings(r, "events") if e.startswith("on_failure")]) == 1


def test_on_failure_runs_once_when_a_dead_worker_is_pruned(resqued, app_dir, r):
    w = work(resqued, app_dir, "-q", "default", "--no-fork", lib="hook_jobs")
    push(r, "default", "Hooks::Slow", "lost", 30)
    wait_for(
        lambda: any(e.startswith("started:lost") for e in strings(r, "events")), 15, "job started"
    )
    w.signal(signal.SIGKILL)
    w.wait(10)
    pruner = work(resqued, app_dir, "-q", "other", "--no-fork", lib="hook_jobs")
    wait_for(lambda: r.llen("resque:failed") == 1, 15, "job failed by prune")
    assert failures(r)[0]["exception"] == "Resque::DirtyExit"
    wait_for(
        lambda: [e for e in strings(r, "events") if e.startswith("on_failure")],
        10,
        "on_failure hook",
    )
    pruner.signal(signal.SIGQUIT)
    assert pruner.wait(20) == 0
    assert [e for e in strings(r, "events") if e.startswith("on_failure")] == [
        "on_failure:RuntimeError:lost"
    ]


def test_worker_hooks_run_where_resque_runs_them(resqued, app_dir, r):
    r.set("note_queue_empty", 1)
    w = work(resqued, app_dir, "-q", "default", lib="hook_jobs")
    wait_for(
        lambda: any(e.startswith("w:queue_empty") for e in strings(r, "events")), 15, "queue_empty"
    )
    push(r, "default", "Hooks::Full", "ok")
    wait_for(lambda: "after" in strings(r, "events"), 15, "job done")
    w.signal(signal.SIGUSR2)
    wait_for(
        lambda: any(e.startswith("w:before_pause") for e in strings(r, "events")), 10, "paused"
    )
    w.signal(signal.SIGCONT)
    wait_for(
        lambda: any(e.startswith("w:after_pause") for e in strings(r, "events")), 10, "resumed"
    )
    w.signal(signal.SIGQUIT)
    assert w.wait(20) == 0
    events = [e for e in strings(r, "events") if e.startswith("w:")]
    kinds = [e.split(":")[1] for e in events]
    assert kinds == [
        "before_first_fork",
        "queue_empty",
        "before_fork",
        "after_fork",
        "before_pause",
        "after_pause",
        "shutdown",
        "worker_exit",
    ]
    pids = {e.split(":")[1]: int(e.split(":")[2]) for e in events}
    child = int(next(e for e in strings(r, "events") if e.startswith("perform:")).split(":")[1])
    assert pids["after_fork"] == child != w.pid
    assert all(pid == w.pid for kind, pid in pids.items() if kind != "after_fork")
    assert events[2].endswith(":Hooks::Full") and events[3].endswith(":Hooks::Full")


def test_worker_hook_kinds_are_checked():
    with pytest.raises(ValueError, match="unknown worker hook"):
        resqued.worker_hook("before_forking")


# -- job hooks, in this process -------------------------------------------------------------------


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


# -- enqueue and dequeue hooks, against Redis -----------------------------------------------------


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
