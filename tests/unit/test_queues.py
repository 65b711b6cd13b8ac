"""Queue lists: fnmatch globs as Lua patterns, brace expansion, priority order and exclusions."""

from __future__ import annotations

import fnmatch

import pytest

from resqued.resque.queues import QueueList, expand_braces, glob_to_lua
from resqued.resque.store import Store
from resqued.worker.loop import Reserver


@pytest.mark.parametrize(
    "glob, lua",
    [
        ("*", "^.*$"),
        ("mail_*", "^mail_.*$"),
        ("[ab]", "^[ab]$"),
        ("q?", "^q.$"),
        ("a.b-c", "^a%.b%-c$"),
        ("[!x]y", "^[^x]y$"),
        ("100%", "^100%%$"),
    ],
)
def test_glob_to_lua(glob, lua):
    assert glob_to_lua(glob) == lua


@pytest.mark.parametrize(
    "glob, matches, misses",
    [
        ("*", ["a", "mail_x", ""], []),
        ("mail_*", ["mail_", "mail_high", "mail_a.b"], ["mail", "xmail_a", "MAIL_a"]),
        ("[ab]", ["a", "b"], ["c", "ab", ""]),
        ("[ab]*", ["a", "bcd"], ["cab"]),
        ("q?", ["q1", "qq"], ["q", "q12"]),
        ("a.b", ["a.b"], ["axb"]),
        ("a-b+c(d)", ["a-b+c(d)"], ["ab+c(d)"]),
        ("[!x]y", ["ay"], ["xy", "y"]),
        ("a?c", ["abc", "a.c"], ["ac", "abbc"]),
        ("[ab]x", ["ax", "bx"], ["cx"]),
        ("[!ab]x", ["cx"], ["ax"]),
        ("a.b%c", ["a.b%c"], ["aXb%c"]),
        ("q-1", ["q-1"], ["q1"]),
    ],
)
def test_lua_patterns_match_in_redis_like_fnmatch(r, glob, matches, misses):
    pattern = glob_to_lua(glob)
    for name in matches + misses:
        in_redis = r.eval(
            "return string.find(ARGV[1], ARGV[2]) ~= nil and 1 or 0", 0, name, pattern
        )
        assert bool(in_redis) == fnmatch.fnmatchcase(name, glob) == (name in matches), (glob, name)


@pytest.mark.parametrize(
    "pattern, expanded",
    [
        ("{a,b}", ["a", "b"]),
        ("mail_{high,low}", ["mail_high", "mail_low"]),
        ("{a,b}_{x,y}", ["a_x", "a_y", "b_x", "b_y"]),
        ("x{a,b{c,d}}", ["xa", "xbc", "xbd"]),
        ("a{b,c}d{e,f}", ["abde", "abdf", "acde", "acdf"]),
        ("plain", ["plain"]),
        ("{single}", ["single"]),
    ],
)
def test_expand_braces(pattern, expanded):
    assert expand_braces(pattern) == expanded  # order kept


KNOWN = ["mail_high", "low", "high", "mail_low", "a", "b", "c", "mail_spam"]


@pytest.mark.parametrize(
    "names, resolved",
    [
        (["*"], ["a", "b", "c", "high", "low", "mail_high", "mail_low", "mail_spam"]),
        (["high", "*"], ["high", "a", "b", "c", "low", "mail_high", "mail_low", "mail_spam"]),
        (["mail_*"], ["mail_high", "mail_low", "mail_spam"]),
        (["mail_*", "!mail_spam"], ["mail_high", "mail_low"]),
        (["!low"], ["a", "b", "c", "high", "mail_high", "mail_low", "mail_spam"]),
        (["*", "!mail_*", "!{a,b}"], ["c", "high", "low"]),
        (["{c,a}"], ["a", "c"]),
        (["[ab]", "high"], ["a", "b", "high"]),
        (["low", "high", "low"], ["low", "high"]),
        (["unknown", "a"], ["unknown", "a"]),  # a literal name is worked even before it exists
        (["high", "!high"], []),
    ],
)
def test_queue_list_resolve(names, resolved):
    assert QueueList(tuple(names)).resolve(set(KNOWN)) == resolved


def test_queue_list_parse():
    assert QueueList.parse("high, low,,").names == ("high", "low")
    assert QueueList.parse([]).names == ("*",)
    assert QueueList.parse("").names == ("*",)
    assert str(QueueList.parse(["mail_*", "!mail_spam"])) == "mail_*,!mail_spam"


@pytest.mark.parametrize(
    "names",
    [
        ["*"],
        ["high", "*"],
        ["mail_*", "!mail_spam"],
        ["!low"],
        ["*", "!mail_*", "!{a,b}"],
        ["{c,a}"],
        ["[ab]", "high"],
        ["low", "high", "low"],
        ["high", "!high"],
    ],
)
def test_the_reserve_script_expands_like_the_python_side(r, redis_url, names):
    """What the worker looks at in Redis is what QueueList.resolve says."""
    store = Store.connect(redis_url)
    r.sadd("resque:queues", *KNOWN)
    r.sadd("resque:workers", "h:1:test")
    queues = QueueList(tuple(names))
    reply = Reserver(store, queues, "h:1:test", pause_key="", handover=[]).call()
    assert reply[0] == b"empty"
    assert [q.decode() for q in reply[1:]] == queues.resolve(set(KNOWN))
