"""Log lines: text or one JSON object per line, always without secrets."""

from __future__ import annotations

import json
import logging

import pytest

from resqued.process import logs
from resqued.process import redact as redact_module


class Err:
    """What the resqued logger wrote to stderr (pytest captures it) since the last read."""

    def __init__(self, capsys) -> None:
        self.capsys = capsys

    def getvalue(self) -> str:
        return self.capsys.readouterr().err


@pytest.fixture
def capture(monkeypatch, capsys):
    """(logger, stderr): the resqued logger as logs.setup leaves it, and what it wrote."""
    monkeypatch.setattr(redact_module, "_secrets", set())
    log = logging.getLogger("resqued")
    saved = (log.handlers[:], log.level, log.propagate)
    yield log, Err(capsys)
    log.handlers[:], log.level, log.propagate = saved


@pytest.mark.parametrize(
    ("title", "kind"),
    [
        ("resqued-0.1.0 master [gen 1] [2 workers] conf.py", "master"),
        ("resqued-0.1.0 listener #1 2/2/2 running", "listener"),
        ("resque-0.1.0: Waiting for *", "worker"),
        ("resqued-0.1.0 status", "status"),
        ("python3 -m pytest", "resqued"),
    ],
)
def test_json_lines(capture, monkeypatch, title, kind):
    log, stream = capture
    monkeypatch.setattr(logs.setproctitle, "getproctitle", lambda: title)
    logs.setup(logging.INFO, "json")
    log.info("job %s done", "Archive", extra={"queue": "high", "duration": 0.25})
    doc = json.loads(stream.getvalue())
    assert doc["level"] == "INFO" and doc["message"] == "job Archive done"
    assert doc["process"] == kind and isinstance(doc["pid"], int)
    assert doc["queue"] == "high" and doc["duration"] == 0.25
    assert doc["time"].endswith("Z") and "T" in doc["time"]


def test_json_exception_is_one_line_and_redacted(capture):
    log, stream = capture
    logs.setup(logging.INFO, "json")
    try:
        raise RuntimeError("cannot reach redis://:s3cret@h/0")
    except RuntimeError:
        log.exception("failed")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    doc = json.loads(lines[0])
    assert "RuntimeError" in doc["exception"] and "s3cret" not in lines[0]


def test_text_lines_are_redacted_and_levels_apply(capture):
    log, stream = capture
    logs.setup(logging.WARNING, "text")
    log.info("not shown")
    log.warning("redis at %s unavailable", "redis://u:pw@@h/0")
    out = stream.getvalue()
    assert "not shown" not in out
    assert "redis at redis://u:***@h/0 unavailable" in out and "WARNING" in out


def test_format_from_the_environment(capture, monkeypatch):
    log, stream = capture
    monkeypatch.setenv(logs.FORMAT_ENV, "json")
    logs.setup()
    log.info("hello")
    assert json.loads(stream.getvalue())["message"] == "hello"
    monkeypatch.setenv(logs.FORMAT_ENV, "xml")  # not a format: text, never a crash
    logs.setup()
    log.info("hello")
    assert stream.getvalue().rstrip().endswith("INFO: hello")
    with pytest.raises(ValueError):
        logs.setup(logging.INFO, "xml")
