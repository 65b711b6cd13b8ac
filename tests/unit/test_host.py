"""The host name override: --hostname / $RESQUED_HOSTNAME, checked, inherited through the environment."""

from __future__ import annotations

import socket

import pytest

from resqued.errors import ResquedError
from resqued.resque import host, registry


def test_without_override_the_system_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(host.ENV, raising=False)
    assert host.hostname() == socket.gethostname() == registry.hostname()


def test_override_names_worker_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(host.ENV, raising=False)
    host.override("web-7")
    assert registry.worker_id("high,low", 42) == "web-7:42:high,low"
    assert host.hostname() == "web-7"


@pytest.mark.parametrize(
    ("name", "cause"),
    [
        ("", "is empty"),
        ("a:b", "has a ':'"),
        ("web 1", "blank or control"),
        ("web\n1", "blank or control"),
        ("x" * 256, "at most 255"),
    ],
)
def test_bad_names_are_one_line_errors(
    monkeypatch: pytest.MonkeyPatch, name: str, cause: str
) -> None:
    monkeypatch.delenv(host.ENV, raising=False)
    with pytest.raises(ResquedError, match=cause) as err:
        host.override(name)
    assert "\n" not in str(err.value).replace(repr(name), "")
    assert host.ENV not in __import__("os").environ


def test_bad_variable_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(host.ENV, "a:b")
    with pytest.raises(ResquedError, match=r"\$RESQUED_HOSTNAME"):
        host.hostname()
