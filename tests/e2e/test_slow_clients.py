"""A client that sends its request head a byte at a time cannot hold a connection of
the local host for ever (dtq/host/timeouts.py); a normal client, keep-alive
included, is not affected."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from tests.e2e.conftest import module_host
from tests.support.processes import LocalHost

pytestmark = pytest.mark.e2e


host = module_host("slow", {"DTQ_REQUEST_HEAD_TIMEOUT_SECONDS": "1"})


def test_a_head_that_never_ends_is_cut_off(host: LocalHost) -> None:
    with socket.create_connection(("127.0.0.1", host.port), timeout=10) as conn:
        conn.sendall(b"GET /api/v1/healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        began = time.monotonic()
        for _ in range(20):  # a header line every 0.2 s, never the blank line
            try:
                conn.sendall(b"X-Slow: 1\r\n")
            except OSError:
                break
            time.sleep(0.2)
            conn.settimeout(0.01)
            try:
                if conn.recv(1024) == b"":
                    break
            except TimeoutError:
                pass
        waited = time.monotonic() - began
    assert waited < 3, f"the connection was held {waited:.1f}s"


def test_a_quiet_connection_is_closed(host: LocalHost) -> None:
    with socket.create_connection(("127.0.0.1", host.port), timeout=5) as conn:
        began = time.monotonic()
        assert conn.recv(1024) == b""  # closed by the host
        assert time.monotonic() - began < 3


def test_normal_requests_and_keep_alive_are_served(host: LocalHost) -> None:
    with httpx.Client(base_url=host.base_url) as client:
        for _ in range(3):
            assert client.get("/api/v1/healthz").status_code == 200
            time.sleep(0.5)
