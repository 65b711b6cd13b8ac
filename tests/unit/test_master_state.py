"""What crosses a USR2 re-exec: the state the release before the typed state wrote still reads.

``fixtures/master_state_48efa0c.json`` was written by a real master of commit
48efa0c (the last release with the untyped state) at a USR2: two workers plus a
``b,c`` row, one TTIN, one HUP done (listener #2 current, #1's jobs retired),
workers recycled after 3 jobs.  Only its paths were rewritten.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from resqued.config.compat import Compat
from resqued.config.view import MasterView
from resqued.master.state import ListenerRecord, MasterState

OLD = Path(__file__).parent / "fixtures" / "master_state_48efa0c.json"


def test_the_previous_releases_state_is_adopted_whole():
    state = MasterState.from_json(OLD.read_text())
    assert (state.generation, state.current, state.pool_delta) == (2, 14060, 1)
    assert not state.workers_stopped and state.orphans == {}
    assert state.replacements == {"recycled after 3 jobs": 4, "exited": 3}
    assert state.reloads == {"ok": 1}
    assert state.jobs_retired[0][:3] == ["a", "Noop", 12.0]
    view = state.view
    assert view.pidfile == "/srv/app/tmp/resqued.pid"
    assert (view.pool_size, view.workers, view.shutdown_timeout) == (2, 3, 20.0)
    assert view.sources == ("/srv/app/config/resqued.conf.py",)
    assert view.table.endswith("3 workers") and view.compat == Compat()
    [listener] = state.listeners
    assert (listener.number, listener.fd, listener.pid, listener.ready) == (2, 7, 14060, True)
    assert listener.workers == {14063: "b,c", 14064: "a", 14065: "a", 14249: "a"}
    assert listener.stats["workers"]["waiting"] == 4
    assert listener.view is not None and listener.view.pool_size == 2


def test_writing_it_again_gives_the_same_document():
    """The new image writes what the old one wrote: a USR2 back to the older release works too."""
    old = json.loads(OLD.read_text())
    new = json.loads(MasterState.from_json(OLD.read_text()).to_json())
    assert new["view"] == old["view"]
    assert new == old | {"listeners": new["listeners"]}
    for mine, theirs in zip(new["listeners"], old["listeners"], strict=True):
        summary = theirs.pop("summary")
        assert mine.pop("summary") == MasterView.from_dict(summary).to_dict()
        assert mine == theirs


def test_a_state_round_trips():
    view = MasterView(pidfile="/run/r.pid", pool_size=3, workers=4, compat=Compat(title="t"))
    state = MasterState(
        view=view,
        generation=7,
        current=101,
        listeners=[ListenerRecord(7, 9, 101, True, 4, view, {"jobs": []}, {202: "high"})],
        orphans={303: "low"},
        pool_delta=-1,
        workers_stopped=True,
        replacements={"max_age": 2},
        reloads={"ok": 3, "failed": 1},
        jobs_retired=[["q", "C", 1.0]],
    )
    assert MasterState.from_json(state.to_json()) == state


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("not json", "not JSON"),
        ('{"version": 2}', "version 2 is not 1"),
        ("[1]", "version None is not 1"),
        ('{"version": 1, "generation": 1}', "incomplete or malformed"),
    ],
)
def test_a_state_it_cannot_read_says_why(text, why):
    with pytest.raises(ValueError, match=why):
        MasterState.from_json(text)
