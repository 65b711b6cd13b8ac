"""Read a config file's text: a regular file of at most 1 MiB, UTF-8, or one line why not.

A FIFO, ``/dev/zero`` or a log file given by mistake as ``-c`` would block the
reader or fill its memory; every config reader (the DSL, resque-pool YAML,
resque_starter's Ruby subset) goes through ``read_text``.
"""

from __future__ import annotations

import os
import stat

from resqued.errors import ConfigError

MAX_BYTES = 1 << 20  # far beyond any config file; a bigger one is not one


def read_text(path: str) -> str:
    """The text of config file ``path``; ConfigError naming the file and the cause."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ConfigError(f"config file {path} is not a regular file")
        chunks, size = [], 0
        while size <= MAX_BYTES and (chunk := os.read(fd, MAX_BYTES + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if size > MAX_BYTES:
        raise ConfigError(f"config file {path} is larger than 1 MiB: not a config file?")
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text (byte {exc.start})") from None
