"""Redis URLs: every form parsed into the client redis-py would build, errors on one line,
and ``redact`` keeping every password out of messages."""

from __future__ import annotations

import pytest
import redis
from redis.sentinel import SentinelManagedConnection, SentinelManagedSSLConnection

from resqued.errors import ResquedError
from resqued.process import redact as redact_module
from resqued.process.redact import redact, redact_url, remember
from resqued.resque.connection import connect, validate
from resqued.resque.urls import parse


def pool_kwargs(url: str) -> tuple[type, dict]:
    pool = connect(url).connection_pool
    return pool.connection_class, pool.connection_kwargs


@pytest.mark.parametrize(
    ("url", "cls", "expected"),
    [
        (
            "redis://127.0.0.1:6380/2",
            redis.Connection,
            {"host": "127.0.0.1", "port": 6380, "db": 2, "socket_keepalive": True},
        ),
        (
            "redis://:p%2Fa%40s%25s@h/0",
            redis.Connection,
            {"host": "h", "password": "p/a@s%s", "db": 0},
        ),
        ("redis://:p@ss@h/0", redis.Connection, {"host": "h", "password": "p@ss"}),
        (
            "redis://alice:s%3Acret@h:1/3",
            redis.Connection,
            {"username": "alice", "password": "s:cret", "db": 3},
        ),
        (
            "rediss://h:6380/0?ssl_cert_reqs=required&ssl_ca_certs=/ca.pem&ssl_certfile=/c.pem"
            "&ssl_keyfile=/k.pem&ssl_check_hostname=false",
            redis.SSLConnection,
            {
                "ssl_cert_reqs": "required",
                "ssl_ca_certs": "/ca.pem",
                "ssl_certfile": "/c.pem",
                "ssl_keyfile": "/k.pem",
                "ssl_check_hostname": False,
            },
        ),
        (
            "unix:///run/redis/redis.sock?db=4",
            redis.UnixDomainSocketConnection,
            {"path": "/run/redis/redis.sock", "db": 4},
        ),
        (
            "unix://:pw%2F1@/run/redis.sock?db=1",
            redis.UnixDomainSocketConnection,
            {"path": "/run/redis.sock", "password": "pw/1", "db": 1},
        ),
        (
            "unix:///run/redis.sock?password=pw%401&socket_timeout=2.5",
            redis.UnixDomainSocketConnection,
            {"password": "pw@1", "socket_timeout": 2.5},
        ),
        (
            "redis://h?health_check_interval=5&client_name=jobs&max_connections=7",
            redis.Connection,
            {"health_check_interval": 5, "client_name": "jobs"},
        ),
    ],
)
def test_direct_forms(url, cls, expected):
    got_cls, kwargs = pool_kwargs(url)
    assert got_cls is cls
    for key, value in expected.items():
        assert kwargs[key] == value, key
    if cls is redis.UnixDomainSocketConnection:
        assert "socket_keepalive" not in kwargs  # a unix socket takes no keepalive


def test_url_options_override_our_defaults():
    _, kwargs = pool_kwargs("redis://h?socket_connect_timeout=1&health_check_interval=0")
    assert kwargs["socket_connect_timeout"] == 1.0 and kwargs["health_check_interval"] == 0


@pytest.mark.parametrize(
    ("url", "cls", "tls"),
    [
        ("redis+sentinel://s1:26379,s2:26380,s3/mymaster/2", SentinelManagedConnection, False),
        (
            "rediss+sentinel://:pw@s1/mymaster?ssl_cert_reqs=none",
            SentinelManagedSSLConnection,
            True,
        ),
    ],
)
def test_sentinel_forms(url, cls, tls):
    target = parse(url)
    assert target.sentinel and target.service == "mymaster"
    client = connect(url)
    pool = client.connection_pool
    assert pool.service_name == "mymaster" and pool.connection_class is cls
    manager = pool.sentinel_manager
    hosts = [(c.connection_pool.connection_kwargs["host"], c.connection_pool.connection_kwargs["port"])
             for c in manager.sentinels]  # fmt: skip
    if tls:
        assert hosts == [("s1", 26379)]
        assert pool.connection_kwargs["password"] == "pw"
    else:
        assert hosts == [("s1", 26379), ("s2", 26380), ("s3", 26379)]
        assert pool.connection_kwargs["db"] == 2


def test_sentinel_credentials_for_the_sentinels_themselves():
    url = "redis+sentinel://u:main%2Fpw@s1/svc/0?sentinel_username=su&sentinel_password=s%40pw"
    target = parse(url)
    assert target.options["username"] == "u" and target.options["password"] == "main/pw"
    assert target.sentinel_options == {"sentinel_username": "su", "sentinel_password": "s@pw"}
    sentinel = connect(url).connection_pool.sentinel_manager.sentinels[0]
    kwargs = sentinel.connection_pool.connection_kwargs
    assert kwargs["username"] == "su" and kwargs["password"] == "s@pw"


@pytest.mark.parametrize(
    ("url", "cause"),
    [
        ("http://x", "scheme must be one of"),
        ("redis://", "no host"),
        ("redis://h:99999/0", "port is not a number"),
        ("redis://h:port/0", "port is not a number"),
        ("redis://h:0/0", "port is not a number"),
        ("redis://h/notadb", "database"),
        ("redis://h/0/1", "database"),
        ("redis://h?db=x", "invalid value for 'db'"),
        ("redis://h?frobnicate=1", "unknown option 'frobnicate'"),
        ("redis://h?ssl_cert_reqs=none", "needs a TLS URL"),
        ("rediss://h?ssl_cert_reqs=maybe", "ssl_cert_reqs must be"),
        ("unix://", "no socket path"),
        ("unix:///s?host=x", "unknown option 'host'"),
        ("redis://:pa/ss@h/0", "percent-encode"),
        ("redis+sentinel://s1", "no service name"),
        ("redis+sentinel://s1:x/m", "Sentinel port"),
        ("redis+sentinel://,/m", "no host"),
        ("redis+sentinel://s1/m/x", "database"),
    ],
)
def test_invalid_urls_are_one_line(url, cause):
    with pytest.raises(ResquedError) as info:
        validate(url)
    message = str(info.value)
    assert "\n" not in message and message.startswith("invalid Redis URL") and cause in message


def test_errors_never_quote_a_password():
    for url in ("redis://:se/cret@h:99999/0", "redis://:sec@ret@h:x/0", "http://:se/cret@x"):
        with pytest.raises(ResquedError) as info:
            validate(url)
        assert "se/cret" not in str(info.value) and "ret@h" not in str(info.value)
        assert "cret" not in str(info.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@h:6379/0", "redis://:***@h:6379/0"),
        ("rediss://user:s3cret@h/0", "rediss://user:***@h/0"),
        ("redis://:se/cr@et@h/0", "redis://:***@h/0"),
        ("redis://lonely@h/0", "redis://***@h/0"),
        ("unix:///tmp/r.sock?password=s3cret&db=1", "unix:///tmp/r.sock?password=***&db=1"),
        ("redis+sentinel://:pw@a,b/m/0?sentinel_password=x", "redis+sentinel://:***@a,b/m/0?sentinel_password=***"),
        ("redis://h:6379/0", "redis://h:6379/0"),
    ],
)  # fmt: skip
def test_redact_url(url, shown):
    assert redact_url(url) == shown


def test_redact_finds_urls_in_text_and_remembered_secrets_anywhere(monkeypatch):
    monkeypatch.setattr(redact_module, "_secrets", set())
    text = "cannot use 'redis://:s3cret@h/0' or rediss://u:pw2@x/1, then s3cret alone"
    assert redact(text) == "cannot use 'redis://:***@h/0' or rediss://u:***@x/1, then s3cret alone"
    remember("s3cret")
    remember("ab")  # too short to blank out everywhere
    assert redact("the password s3cret, ab") == "the password ***, ab"


def test_parse_remembers_the_password_in_both_forms(monkeypatch):
    monkeypatch.setattr(redact_module, "_secrets", set())
    parse("redis://:p%2Fw0rd@h/0")
    assert redact("p/w0rd and p%2Fw0rd") == "*** and ***"
