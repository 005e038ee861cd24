"""Completion webhooks on the local host, delivered to a receiver on a free loopback
port (allowed by DTQ_WEBHOOK_ALLOW_PRIVATE): signed as Standard Webhooks says, verified
with the ``standardwebhooks`` library, and retried after the receiver first answers 500.
Without the setting the same target is refused."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import standardwebhooks

from tests.e2e.conftest import module_host
from tests.support.processes import LocalHost

pytestmark = pytest.mark.e2e

host = module_host(
    "dtq-webhooks",
    {"DTQ_WEBHOOK_ALLOW_PRIVATE": "true", "DTQ_WEBHOOK_BACKOFF_BASE_SECONDS": "0.2"},
)
strict_host = module_host("dtq-webhooks-strict")


class Receiver(ThreadingHTTPServer):
    """Answers 500 to the first POST of each webhook-id, 200 after; keeps every POST."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes, int]] = []
        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/dtq?from=test"


class Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        seen = any(h["webhook-id"] == headers.get("webhook-id") for h, _, _ in self.server.received)
        status = 200 if seen else 500
        self.server.received.append((headers, body, status))
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_finished_job_is_posted_signed_and_retried_until_delivered(
    host: LocalHost, receiver: Receiver
) -> None:
    submitted = httpx.post(
        f"{host.base_url}/api/v1/jobs",
        json={"job_type": "echo", "payload": {"message": "hi"}, "callback_url": receiver.url},
    )
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["job_id"]
    deadline, job = time.monotonic() + 20, submitted.json()
    while time.monotonic() < deadline:
        job = httpx.get(f"{host.base_url}/api/v1/jobs/{job_id}").json()
        if (job.get("webhook") or {}).get("state") == "delivered":
            break
        time.sleep(0.1)
    webhook = job["webhook"]
    assert webhook["state"] == "delivered", job
    assert [a["status_code"] for a in webhook["attempts"]] == [500, 200]
    assert all(a["duration_ms"] >= 0 and a["at"] for a in webhook["attempts"])

    assert [status for _, _, status in receiver.received] == [500, 200]
    secret = httpx.get(f"{host.base_url}/api/v1/webhooks/secret").json()["secret"]
    ids = set()
    for headers, body, _ in receiver.received:
        event = standardwebhooks.Webhook(secret).verify(body, headers)
        assert event["type"] == "job.completed" and event["data"]["job_id"] == job_id
        assert event["data"]["state"] == "completed"
        ids.add(headers["webhook-id"])
        assert headers["host"] == receiver.url.split("/")[2]
    assert ids == {webhook["event_id"]}, "one webhook-id for both attempts"


def test_without_the_setting_a_loopback_target_is_refused(
    strict_host: LocalHost, receiver: Receiver
) -> None:
    refused = httpx.post(
        f"{strict_host.base_url}/api/v1/jobs",
        json={"job_type": "echo", "payload": {"message": "x"}, "callback_url": receiver.url},
    )
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert [e["field"] for e in problem["errors"]] == ["callback_url"]
    assert "loopback" in json.dumps(problem)
    assert receiver.received == []
