"""``resqued web`` prints its URL once the socket listens: a client connecting right after
that line is queued by the kernel, never refused, even before uvicorn accepts."""

from __future__ import annotations

import socket

import pytest

from resqued.errors import ResquedError
from resqued.web import listen


def test_the_socket_listens_before_the_server_runs():
    sock = listen("127.0.0.1", 0)
    try:
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
        client = socket.create_connection(sock.getsockname(), timeout=5)
        client.close()
    finally:
        sock.close()


def test_a_busy_port_is_one_line():
    sock = listen("127.0.0.1", 0)
    port = sock.getsockname()[1]
    try:
        with pytest.raises(ResquedError, match=f"^cannot listen on 127.0.0.1:{port}: Address"):
            listen("127.0.0.1", port)
    finally:
        sock.close()
