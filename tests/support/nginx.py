"""A real nginx (Debian's) on a free loopback port, with a config written to a temporary
directory (``-p`` prefix, ``daemon off``, pid and logs there), stopped by its pid; and a
self-signed certificate for it (openssl)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

from support.procs import wait_for
from support.tools import needs


def certificate(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate and key for ``name``, valid two days."""
    openssl = needs("openssl", "openssl")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={name}",
         "-addext", f"subjectAltName=DNS:{name}"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


class Nginx:
    """nginx with ``server`` (a server block) inside a minimal http block of its own."""

    def __init__(self, directory: Path, server: str, port: int) -> None:
        binary = needs("nginx", "nginx")
        self.dir = directory
        self.port = port
        temp = directory / "temp"
        temp.mkdir(parents=True, exist_ok=True)
        user = "user root root;\n" if os.geteuid() == 0 else ""  # workers reach the temp dir
        temps = "".join(
            f"    {kind}_temp_path {temp / kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        self.conf = directory / "nginx.conf"
        self.conf.write_text(
            f"{user}daemon off;\nworker_processes 1;\npid {directory / 'nginx.pid'};\n"
            f"error_log {directory / 'error.log'} info;\n"
            "events { worker_connections 64; }\n"
            "http {\n"
            f"    access_log {directory / 'access.log'};\n{temps}"
            f"{server}\n"
            "}\n"
        )
        self.log = open(directory / "nginx.out", "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [
                binary,
                "-p",
                str(directory),
                "-c",
                str(self.conf),
                "-e",
                str(directory / "error.log"),
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

        def up() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"nginx exited: {self.errors()}")
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                return True
            except OSError:
                return False

        wait_for(up, 20, "nginx to listen")

    def errors(self) -> str:
        out = (self.dir / "nginx.out").read_text(errors="replace")
        log = self.dir / "error.log"
        return out + (log.read_text(errors="replace") if log.exists() else "")

    def stop(self) -> None:
        """SIGTERM to the master we started (by pid): it stops its workers and exits at once
        (SIGQUIT would wait for the browser's keep-alive connections)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()
