"""redis-server variants for the Redis URL forms: a unix socket, TLS with a test CA, ACL users.

Each keeps a plain TCP port as well, so ``client()`` can set up and inspect
the server while the code under test connects through the form being tested.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import redis

from support.procs import wait_for
from support.redis_server import RedisServer, free_port, pings


class UnixRedis(RedisServer):
    """Also listens on ``<dir>/redis.sock``."""

    @property
    def socket(self) -> Path:
        return self.dir / "redis.sock"

    def command(self) -> list[str]:
        return [*super().command(), "--unixsocket", str(self.socket), "--unixsocketperm", "700"]


class TlsRedis(RedisServer):
    """Also listens with TLS on ``tls_port``; client certificates are optional."""

    def __init__(self, tmp: Path, password: str | None = None) -> None:
        super().__init__(tmp, password)
        self.tls_port = free_port()
        self.certs = make_certs(tmp / "certs")

    def command(self) -> list[str]:
        c = self.certs
        return [
            *super().command(),
            "--tls-port",
            str(self.tls_port),
            "--tls-cert-file",
            str(c["server.crt"]),
            "--tls-key-file",
            str(c["server.key"]),
            "--tls-ca-cert-file",
            str(c["ca.crt"]),
            "--tls-auth-clients",
            "optional",
        ]

    def start(self) -> None:
        """Start it, or skip the test when this redis-server was built without TLS."""
        log = self.dir / "tls-redis.log"
        with open(log, "w") as out:
            self.proc = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT)
        client = self.client()
        wait_for(lambda: self.proc.poll() is not None or pings(client), 10, "redis-server (TLS)")
        if self.proc.poll() is not None:
            text = log.read_text()
            if "tls" in text.lower():
                pytest.skip(f"redis-server has no TLS support: {text.strip()[-200:]}")
            raise AssertionError(f"redis-server did not start: {text}")


def make_certs(directory: Path) -> dict[str, Path]:
    """A throwaway CA, a server certificate for 127.0.0.1 and a client certificate."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    directory.mkdir(parents=True, exist_ok=True)
    files = {name: directory / name for name in ("ca.crt", "ca.key")}

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)

    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *key, "-keyout", str(files["ca.key"]), "-out", str(files["ca.crt"]),
        "-days", "2", "-subj", "/CN=resqued test CA")  # fmt: skip
    for who in ("server", "client"):
        crt, csr, k = (directory / f"{who}.{ext}" for ext in ("crt", "csr", "key"))
        ext = directory / f"{who}.ext"
        ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        run("req", *key, "-keyout", str(k), "-out", str(csr), "-subj", f"/CN={who}")
        run("x509", "-req", "-in", str(csr), "-CA", str(files["ca.crt"]), "-CAkey",
            str(files["ca.key"]), "-CAcreateserial", "-out", str(crt), "-days", "2",
            "-extfile", str(ext))  # fmt: skip
        files[f"{who}.crt"], files[f"{who}.key"] = crt, k
    return files


def add_acl_user(client: redis.Redis, user: str, password: str) -> None:
    """An ACL user allowed everything (Redis 6+)."""
    client.execute_command("ACL", "SETUSER", user, "on", f">{password}", "~*", "&*", "+@all")
