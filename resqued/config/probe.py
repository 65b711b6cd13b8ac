"""Start the config check process (``resqued.config.check``) and collect its answer.

``evaluate`` runs one check and waits for its answer, with a deadline (at a
master's start and for ``--test``, before the master's loop runs).  The child
is a ``proc.Deadlined`` (a session of its own), so a deadline kills its whole
group, grandchildren too.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from resqued.config.model import Overrides
from resqued.config.view import MasterView
from resqued.errors import ResquedError
from resqued.process.proc import Deadlined

DEFAULT_TIMEOUT = 60.0


@dataclass
class Answer:
    ok: bool
    error: str = ""
    view: MasterView = field(default_factory=MasterView)
    app: str = ""
    redis: str = ""
    redis_down: str = ""  # check_redis without strict: why Redis did not answer


class Probe:
    def __init__(
        self,
        overrides: Overrides,
        cwd: str,
        *,
        import_app: bool = False,
        check_redis: bool = False,
        strict: bool = False,
        before_exec: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        python: str = sys.executable,
    ) -> None:
        read_fd, write_fd = os.pipe()
        request = {
            "overrides": overrides.to_json(),
            "import_app": import_app,
            "check_redis": check_redis,
            "strict": strict,
            "before_exec": before_exec,
        }
        try:
            self.child = Deadlined(
                [
                    python,
                    "-m",
                    "resqued.config.check",
                    "--result-fd",
                    str(write_fd),
                    "--parent",
                    str(os.getpid()),
                ],
                timeout,
                stdin=subprocess.PIPE,
                stdout=sys.stderr.fileno(),  # what the config prints goes to our log
                pass_fds=(write_fd,),
                cwd=cwd,
                env={**os.environ, "PWD": cwd},
            )
        except OSError as exc:
            os.close(read_fd)
            os.close(write_fd)
            raise ResquedError(f"cannot start the config check: {exc}") from None
        os.close(write_fd)
        self.result_fd = read_fd
        os.set_blocking(read_fd, False)
        self._chunks: list[bytes] = []
        stdin = self.child.process.stdin
        assert stdin is not None
        try:
            stdin.write(json.dumps(request).encode())
            stdin.close()
        except BrokenPipeError:
            pass
        self.answer: Answer | None = None

    def poll(self) -> Answer | None:
        """The answer once the check is over (or its deadline passed); None meanwhile."""
        if self.answer is not None:
            return self.answer
        self._read()
        try:
            code = self.child.poll()
        except TimeoutError as exc:
            return self._finish(Answer(False, str(exc)))
        if code is None:
            return None
        self._read()
        data = b"".join(self._chunks)
        try:
            doc = json.loads(data) if data else None
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            how = f"signal {-code}" if code < 0 else f"status {code}"
            return self._finish(Answer(False, f"the config check exited with {how}"))
        try:
            view = MasterView.from_dict(doc.get("view") or {})
        except (TypeError, ValueError) as exc:
            return self._finish(Answer(False, f"the config check answered nonsense: {exc}"))
        return self._finish(
            Answer(
                bool(doc.get("ok")),
                str(doc.get("error") or ""),
                view,
                str(doc.get("app") or ""),
                str(doc.get("redis") or ""),
                str(doc.get("redis_down") or ""),
            )
        )

    def wait(self) -> Answer:
        while (answer := self.poll()) is None:
            left = max(0.0, self.child.deadline - time.monotonic())
            select.select([self.result_fd], [], [], min(left, 0.2))
        return answer

    def kill(self) -> None:
        """End the check and everything it started (its own process group)."""
        self.child.kill()

    def _read(self) -> None:
        try:
            while chunk := os.read(self.result_fd, 65536):
                self._chunks.append(chunk)
        except BlockingIOError:
            pass

    def _finish(self, answer: Answer) -> Answer:
        self.answer = answer
        os.close(self.result_fd)
        return answer


def evaluate(overrides: Overrides, cwd: str, **kwargs: Any) -> Answer:
    """Run one check and wait for it (with its deadline)."""
    return Probe(overrides, cwd, **kwargs).wait()
