"""``resqued --replace FILE``: Ruby resqued's flag for a master's new image, state in FILE.

Ruby resqued re-execs its master as ``resqued --replace <state file>``.  Ours
hands the state over in an anonymous memory file instead (``$RESQUED_STATE_FD``,
see resqued/master/upgrade.py), and accepts the same JSON document from a file given
with ``--replace``: the file is read, then deleted (as Ruby resqued does), and
each listener socket it names must be open in this process, inherited through
the exec; otherwise the start is refused with one line.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat

from resqued.errors import ResquedError
from resqued.master.state import STATE_VERSION, MasterState


def read(path: str) -> MasterState:
    try:
        with open(path) as f:
            text = f.read()
    except OSError as exc:
        raise ResquedError(f"--replace: cannot read state file {path}: {exc.strerror}") from None
    with contextlib.suppress(OSError):
        os.unlink(path)
    try:
        doc = json.loads(text)
    except ValueError:
        raise ResquedError(f"--replace: {path} does not hold a master's state (JSON)") from None
    if not isinstance(doc, dict) or doc.get("version") != STATE_VERSION:
        raise ResquedError(f"--replace: {path} is not a version {STATE_VERSION} master state")
    for listener in doc.get("listeners") or []:
        fd = listener.get("fd") if isinstance(listener, dict) else None
        if not isinstance(fd, int) or not _is_socket(fd):
            raise ResquedError(
                f"--replace: listener socket {fd!r} is not open here (start only through exec)"
            )
    try:
        return MasterState.from_json(text)
    except ValueError as exc:
        raise ResquedError(f"--replace: {path}: {exc}") from None


def _is_socket(fd: int) -> bool:
    try:
        return stat.S_ISSOCK(os.fstat(fd).st_mode)
    except OSError:
        return False
