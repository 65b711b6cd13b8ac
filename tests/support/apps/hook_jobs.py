"""Jobs with Resque hooks; every hook and perform appends to the Redis list ``events``."""

import os
import signal
import time

import redis

import resqued

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def note(text: str) -> None:
    redis.Redis.from_url(REDIS_URL).rpush("events", text)


@resqued.job("Hooks::Full")
class Full:
    """perform(mode): "ok", "fail" (raises), "skip" (before_perform says DontPerform)."""

    queue = "default"

    @staticmethod
    def before_perform_b(mode):
        note("before_b")

    @staticmethod
    def before_perform_a(mode):
        note("before_a")
        if mode == "skip":
            raise resqued.DontPerform()

    @staticmethod
    def around_perform_b(mode):
        note("around_b in")
        yield
        note("around_b out")

    @staticmethod
    def around_perform_a(mode):
        note("around_a in")
        yield
        note("around_a out")

    @staticmethod
    def perform(mode):
        note(f"perform:{os.getpid()}")
        if mode == "fail":
            raise ValueError("job said no")

    @staticmethod
    def after_perform_z(mode):
        note("after")

    @staticmethod
    def on_failure_log(exc, mode):
        note(f"on_failure:{type(exc).__name__}:{exc}:{mode}")


@resqued.job("Hooks::SelfKill")
class SelfKill:
    """Dies by SIGKILL in the middle of perform (a segfault, the OOM killer...)."""

    queue = "default"

    @staticmethod
    def perform(key):
        note("perform")
        os.kill(os.getpid(), signal.SIGKILL)

    @staticmethod
    def on_failure_log(exc, key):
        note(f"on_failure:{type(exc).__name__}:{exc}:{key}")


@resqued.job("Hooks::Slow")
class Slow:
    """Sleeps; on_failure notes the exception. ``stubborn`` ignores TermException."""

    queue = "default"

    @staticmethod
    def perform(key, seconds, stubborn=False):
        note(f"started:{key}:{os.getpid()}")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                time.sleep(0.05)  # the job itself: busy for `seconds`
            except Exception as exc:  # noqa: BLE001
                note(f"caught:{type(exc).__name__}")
                if not stubborn:
                    raise
        note(f"finished:{key}")

    @staticmethod
    def on_failure_log(exc, *args):
        note(f"on_failure:{type(exc).__name__}:{args[0]}")


@resqued.job("Hooks::Enqueue")
class Enqueue:
    queue = "enq"

    @staticmethod
    def perform(*args):
        pass

    @staticmethod
    def before_enqueue_check(*args):
        note(f"before_enqueue:{list(args)}")
        if args and args[0] == "veto":
            return False
        return None  # anything but exactly False lets it through

    @staticmethod
    def after_enqueue_note(*args):
        note(f"after_enqueue:{list(args)}")

    @staticmethod
    def before_dequeue_note(*args):
        note(f"before_dequeue:{list(args)}")

    @staticmethod
    def after_dequeue_note(*args):
        note(f"after_dequeue:{list(args)}")


@resqued.worker_hook("before_first_fork")
def _first(*args):
    note(f"w:before_first_fork:{os.getpid()}")


@resqued.worker_hook("before_fork")
def _before_fork(job):
    note(f"w:before_fork:{os.getpid()}:{job.class_name}")


@resqued.worker_hook("after_fork")
def _after_fork(job):
    note(f"w:after_fork:{os.getpid()}:{job.class_name}")


@resqued.worker_hook("queue_empty")
def _empty(*args):
    r = redis.Redis.from_url(REDIS_URL)
    if r.get("note_queue_empty"):  # once only: an idle worker calls it on every wait
        r.delete("note_queue_empty")
        note(f"w:queue_empty:{os.getpid()}")


@resqued.worker_hook("before_pause")
def _before_pause(*args):
    note(f"w:before_pause:{os.getpid()}")


@resqued.worker_hook("after_pause")
def _after_pause(*args):
    note(f"w:after_pause:{os.getpid()}")


@resqued.worker_hook("shutdown")
def _shutdown(*args):
    note(f"w:shutdown:{os.getpid()}")


@resqued.worker_hook("worker_exit")
def _exit(*args):
    note(f"w:worker_exit:{os.getpid()}")


@resqued.job("Hooks::Exit")
class Exit:
    """Calls sys.exit: a job failure, never the end of an in-process worker."""

    queue = "default"

    @staticmethod
    def perform(code):
        import sys

        note(f"exit:{os.getpid()}")
        sys.exit(code)


@resqued.job("Hooks::Spawner")
class Spawner:
    """Leaves a forked grandchild running (holding every inherited fd) and returns."""

    queue = "default"

    @staticmethod
    def perform(seconds):
        pid = os.fork()
        if pid == 0:
            try:
                note(f"grandchild:{os.getpid()}")
                time.sleep(seconds)
            finally:
                os._exit(0)
        note("spawned")
