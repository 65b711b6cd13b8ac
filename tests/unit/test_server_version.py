"""Reading the server's version from INFO server, and refusing servers below Redis 6.2."""

import pytest

from resqued.errors import ResquedError
from resqued.resque.server import ServerVersion, from_info, parse, require_supported


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7.0.15", (7, 0, 15)),
        ("6.2.0", (6, 2, 0)),
        ("6.0.9", (6, 0, 9)),
        ("7.4.0-rc1", (7, 4, 0)),
        ("255.255.255", (255, 255, 255)),
        ("", ()),
        ("unknown", ()),
    ],
)
def test_parse(text, expected):
    assert parse(text) == expected


def test_redis_reply():
    found = from_info({"redis_version": "7.0.15", "redis_mode": "standalone"})
    assert found == ServerVersion("redis", "7.0.15", "7.0.15")
    assert str(found) == "redis 7.0.15" and found.supported


def test_valkey_reply_names_valkey_and_its_own_version():
    info = {"redis_version": "7.2.4", "server_name": "valkey", "valkey_version": "8.1.1"}
    found = from_info(info)
    assert str(found) == "valkey 8.1.1" and found.redis_version == "7.2.4"
    assert found.supported


def test_a_fork_without_its_own_version_field_shows_the_redis_version():
    found = from_info({"redis_version": "7.2.5", "server_name": "SomeFork"})
    assert str(found) == "somefork 7.2.5" and found.supported


@pytest.mark.parametrize(
    ("version", "supported"),
    [("6.0.9", False), ("6.2.0", True), ("6.2.14", True), ("5.0.7", False), ("7.0.0", True)],
)
def test_minimum_is_redis_6_2(version, supported):
    assert from_info({"redis_version": version}).supported is supported


def test_no_redis_version_is_a_one_line_error():
    with pytest.raises(ResquedError, match="no redis_version"):
        from_info({"server_name": "mystery"})


def test_old_fork_is_refused_naming_both_versions():
    found = from_info(
        {"redis_version": "6.0.5", "server_name": "oldfork", "oldfork_version": "1.2"}
    )
    with pytest.raises(ResquedError) as err:
        require_supported(found)
    assert str(err.value) == (
        "the server is oldfork 1.2 (Redis 6.0.5); resqued needs Redis 6.2 or newer, "
        "or Valkey (for BLMOVE and GETDEL)"
    )


def test_supported_server_is_described_in_two_words():
    assert require_supported(from_info({"redis_version": "6.2.0"})) == "redis 6.2.0"
