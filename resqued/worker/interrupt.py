"""An in-process job as a region another thread, or a signal handler, can interrupt.

TERM and USR1 stop an in-process job by raising ``TermException`` or
``JobKilled`` inside it:

- in the job's own thread (a single in-process worker: the signal handler
  runs in the main thread, which runs the job), the exception is raised
  right there, and it also ends a blocking call such as ``time.sleep``;
- from another thread (``--threads``: the main thread handles the signals),
  through ``PyThreadState_SetAsyncExc``.  Python delivers it the next time the
  job's thread runs Python code: a job inside a blocking C call (``sleep``, a
  socket read, a lock wait, a C extension's loop) is not interrupted until that
  call returns.

An interruption that arrives as the job ends, too late to be seen inside it,
is cancelled: it never lands in the worker's own code.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable

Abort = Callable[[], BaseException | None]


def _set_async_exc(thread_id: int, exc_type: type[BaseException] | None) -> int:
    """Schedule ``exc_type`` in the thread (None: cancel one scheduled); threads affected."""
    obj = None if exc_type is None else ctypes.py_object(exc_type)
    return int(ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), obj))


class Interruptible:
    def __init__(self) -> None:
        self._thread: int | None = None  # the thread running the region, while it runs
        self._lock = threading.Lock()  # taken by other threads only, never by a signal handler
        self._sent: tuple[type[BaseException], str] | None = None  # from another thread

    def call(self, fn: Callable[[], object], abort: Abort | None = None) -> BaseException | None:
        """Run ``fn`` here; the exception it (or an interruption) raised, None on success.

        ``abort`` is asked once the region is entered: an exception it returns is
        raised at once (a stop or kill that came before the job started).
        """
        me = threading.get_ident()
        self._sent = None
        try:
            try:
                self._thread = me
                early = abort() if abort is not None else None
                if early is not None:
                    raise early
                fn()
            finally:
                self._leave(me)
        except BaseException as exc:  # a job may raise anything, sys.exit too
            self._leave(me)
            return self._labelled(exc)
        return None

    def interrupt(self, exc_type: type[BaseException], message: str, soft: bool = False) -> bool:
        """Raise ``exc_type(message)`` inside the region; False when nothing runs in it.

        From another thread, each kind of exception is sent into a region once; a
        ``soft`` one (a soft time limit) only when nothing was sent yet, so it never
        replaces a TERM or USR1 that has not landed, while those may follow it.
        """
        thread = self._thread
        if thread is None:
            return False
        if thread == threading.get_ident():  # a signal handler in the job's own thread
            if not soft:
                self._thread = None
            raise exc_type(message)
        with self._lock:
            sent = self._sent
            if self._thread != thread or (sent is not None and (soft or sent[0] is exc_type)):
                return False
            self._sent = (exc_type, message)
            _set_async_exc(thread, exc_type)
        return True

    def _leave(self, me: int) -> None:
        with self._lock:
            self._thread = None
            if self._sent is not None:
                _set_async_exc(me, None)  # not delivered yet: it never will be

    def _labelled(self, exc: BaseException) -> BaseException:
        """An exception sent from another thread was made without arguments: give its message."""
        sent = self._sent
        if sent is not None and type(exc) is sent[0]:
            exc.args = (sent[1],)
        return exc
