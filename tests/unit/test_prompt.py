"""Asking before a change to many records, and the --watch screen of ``resqued status``."""

from __future__ import annotations

import io

import pytest

from resqued.cli.common import confirm
from resqued.cli.status import EOL, EOS, HOME, _screen
from resqued.errors import ResquedError


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_yes_needs_no_terminal():
    confirm("clear it", True, stdin=io.StringIO(""), stderr=io.StringIO())


def test_without_a_terminal_it_refuses():
    with pytest.raises(ResquedError, match=r"^refusing to clear it without --yes \(stdin"):
        confirm("clear it", False, stdin=io.StringIO("y\n"), stderr=io.StringIO())


@pytest.mark.parametrize("answer", ["y\n", "Y\n", "yes\n", " YES \n"])
def test_a_yes_on_the_terminal_goes_ahead(answer):
    err = io.StringIO()
    confirm("clear 3 jobs", False, stdin=Tty(answer), stderr=err)
    assert err.getvalue() == "Clear 3 jobs? [y/N] "


@pytest.mark.parametrize("answer", ["\n", "n\n", "no\n", "yep\n", ""])
def test_anything_else_changes_nothing(answer):
    with pytest.raises(ResquedError, match="not confirmed: nothing changed"):
        confirm("clear it", False, stdin=Tty(answer), stderr=io.StringIO())


def test_the_screen_fits_the_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "20")
    monkeypatch.setenv("LINES", "6")
    text = "".join(f"line {n} " + "x" * 30 + "\n" for n in range(10))
    screen = _screen(text)
    assert screen.startswith(HOME) and screen.endswith(EOS)
    lines = screen[len(HOME) : -len(EOS)].split(EOL + "\n")[:-1]
    assert len(lines) == 5  # the cursor rests on the sixth
    assert lines[:4] == [f"line {n} " + "x" * 12 for n in range(4)]
    assert lines[4] == "... 6 more lines (a"  # cut to the width too


def test_a_short_snapshot_clears_what_is_below_it(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("LINES", "24")
    assert _screen("a\nb\n") == f"{HOME}a{EOL}\nb{EOL}\n{EOS}"
