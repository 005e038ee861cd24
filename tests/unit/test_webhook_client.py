"""One webhook POST by the real client (shared/webhooks/client.py) to a server on a
loopback port: sent to the resolved address with the URL's Host, a redirect not
followed, a loopback target refused without DTQ_WEBHOOK_ALLOW_PRIVATE."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from shared.webhooks.client import WebhookClient


class Handler(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        Handler.seen.append((self.path, self.headers.get("Host", ""), body))
        if self.path.startswith("/moved"):
            self.send_response(302)
            self.send_header("Location", "/elsewhere")
        else:
            self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def port() -> Iterator[int]:
    Handler.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


async def test_a_post_reaches_the_resolved_address_with_the_urls_host(port: int) -> None:
    client = WebhookClient(timeout_seconds=5, allow_private=True)
    outcome = await client.post(f"http://localhost:{port}/hook?x=1", {"webhook-id": "e"}, b"{}")
    await client.close()
    assert outcome.delivered and outcome.status_code == 204
    assert Handler.seen == [("/hook?x=1", f"localhost:{port}", b"{}")]


async def test_a_redirect_is_a_failed_attempt_and_not_followed(port: int) -> None:
    client = WebhookClient(timeout_seconds=5, allow_private=True)
    outcome = await client.post(f"http://127.0.0.1:{port}/moved", {}, b"{}")
    await client.close()
    assert not outcome.delivered and outcome.status_code == 302
    assert outcome.error == "redirects are not followed"
    assert [path for path, _, _ in Handler.seen] == ["/moved"]


async def test_without_the_setting_a_loopback_target_is_never_contacted(port: int) -> None:
    client = WebhookClient(timeout_seconds=5, allow_private=False)
    outcome = await client.post(f"http://localhost:{port}/hook", {}, b"{}")
    await client.close()
    assert outcome.status_code is None and "loopback" in (outcome.error or "")
    assert Handler.seen == []


@pytest.fixture
def trickling_port() -> Iterator[int]:
    """A receiver that answers one header line every 0.4 s, for ever (slowloris)."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            while not stop.wait(0.4):
                conn.sendall(b"X-Slow: 1\r\n")

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = listener.accept()
                threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield listener.getsockname()[1]
    stop.set()
    listener.close()


async def test_the_timeout_bounds_the_whole_attempt_not_each_read(trickling_port: int) -> None:
    client = WebhookClient(timeout_seconds=1, allow_private=True)
    began = time.monotonic()
    url = f"http://127.0.0.1:{trickling_port}/hook"
    outcome = await asyncio.wait_for(client.post(url, {}, b"{}"), 5)  # the test's own bound
    took = time.monotonic() - began
    await client.close()
    assert outcome.status_code is None and outcome.error == "timed out"
    assert took < 1.5


async def test_an_international_name_goes_out_in_idna_form(
    port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    looked_up: list[str] = []

    async def getaddrinfo(host: str, *args: Any, **kwargs: Any) -> list[Any]:
        looked_up.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", getaddrinfo)
    client = WebhookClient(timeout_seconds=5, allow_private=True)
    outcome = await client.post(f"http://bücher.example:{port}/x", {}, b"{}")
    await client.close()
    assert outcome.delivered, outcome
    assert looked_up == ["xn--bcher-kva.example"]
    assert Handler.seen == [("/x", f"xn--bcher-kva.example:{port}", b"{}")]


async def test_any_failure_of_an_attempt_is_an_outcome_never_an_exception(port: int) -> None:
    client = WebhookClient(timeout_seconds=5, allow_private=True)

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("something nobody foresaw")

    client.http.send = broken  # type: ignore[method-assign]
    outcome = await client.post(f"http://127.0.0.1:{port}/x", {}, b"{}")
    await client.close()
    assert outcome.status_code is None and outcome.error


async def test_a_connection_error_is_recorded_in_general_terms() -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    client = WebhookClient(timeout_seconds=5, allow_private=True)
    outcome = await client.post(f"http://127.0.0.1:{port}/x", {}, b"{}")
    await client.close()
    assert (outcome.status_code, outcome.error) == (None, "connection failed")


async def test_a_tls_failure_is_recorded_in_general_terms(port: int) -> None:
    client = WebhookClient(timeout_seconds=5, allow_private=True)
    outcome = await client.post(f"https://127.0.0.1:{port}/x", {}, b"{}")  # plain HTTP there
    await client.close()
    assert (outcome.status_code, outcome.error) == (None, "TLS error")
