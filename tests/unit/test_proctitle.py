"""Process titles: a title shown already is not set again (one syscall a job saved)."""

from __future__ import annotations

import pytest

from resqued.process import proctitle


def test_a_title_is_set_only_when_it_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(proctitle.setproctitle, "setproctitle", calls.append)
    monkeypatch.setattr(proctitle, "_shown", "")
    proctitle.worker("Processing q since 1 [Job]")
    proctitle.worker("Processing q since 1 [Job]")
    proctitle.worker("Waiting for q")
    proctitle.worker("Processing q since 1 [Job]")
    assert calls == [
        "resque-" + proctitle.__version__ + ": Processing q since 1 [Job]",
        "resque-" + proctitle.__version__ + ": Waiting for q",
        "resque-" + proctitle.__version__ + ": Processing q since 1 [Job]",
    ]
