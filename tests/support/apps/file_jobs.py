"""A job that records itself in a file, not in Redis: for tests that fail Redis over."""

import os
import time

import resqued


@resqued.job("FileRecord")
class FileRecord:
    """Appends ``<key> <pid>`` to the file at ``path`` (one write, O_APPEND) after ``seconds``."""

    queue = "default"

    @staticmethod
    def perform(path, key, seconds=0):
        if seconds:
            time.sleep(seconds)  # the job's own work, not a wait
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{key} {os.getpid()}\n".encode())
        finally:
            os.close(fd)
