"""Jobs that record what they did in files, not in Redis (which a test may make refuse writes).

``Mark(i, seconds)`` appends ``i`` to ``$MARKS_DIR/started``, sleeps, then appends
``i`` to ``$MARKS_DIR/done``; each line is one ``O_APPEND`` write.
"""

import os
import time

import resqued

MARKS = os.environ.get("MARKS_DIR", ".")


def mark(name: str, i: int) -> None:
    fd = os.open(os.path.join(MARKS, name), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{i}\n".encode())
    finally:
        os.close(fd)


@resqued.job("Mark")
class Mark:
    @staticmethod
    def perform(i, seconds=0.0):
        mark("started", i)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(0.05)
        mark("done", i)
