"""dtq/client.py's ApiClient: what it sends, read as the API reads it (no server)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from dtq.client import ApiClient
from functions.request_models import SubmitRequest
from shared.access import credentials

JOB = {"job_id": "j1", "state": "scheduled"}


class Sent:
    """The requests a client sent, each answered with a job."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(202, json=JOB)

    @property
    def body(self) -> dict[str, Any]:
        return dict(json.loads(self.requests[-1].content))


@pytest.fixture
def sent() -> Sent:
    return Sent()


@pytest.fixture
def api(sent: Sent) -> Iterator[ApiClient]:
    with ApiClient("http://api.example", transport=httpx.MockTransport(sent)) as client:
        yield client


def test_scheduled_at_as_a_datetime_is_sent_as_the_same_instant(api: ApiClient, sent: Sent) -> None:
    at = datetime(2030, 1, 2, 9, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert api.submit("echo", {"message": "x"}, scheduled_at=at) == JOB
    assert sent.requests[-1].url.path == "/api/v1/jobs"
    assert sent.body["scheduled_at"] == "2030-01-02T09:30:00-05:00"
    request = SubmitRequest.model_validate(sent.body)
    assert request.scheduled_at == datetime(2030, 1, 2, 14, 30, tzinfo=UTC)
    assert request.delay_seconds is None


def test_scheduled_at_as_a_string_is_sent_as_given(api: ApiClient, sent: Sent) -> None:
    api.submit("echo", {"message": "x"}, scheduled_at="2030-01-02T14:30:00Z")
    assert sent.body["scheduled_at"] == "2030-01-02T14:30:00Z"
    assert SubmitRequest.model_validate(sent.body).scheduled_at == datetime(
        2030, 1, 2, 14, 30, tzinfo=UTC
    )


def test_a_submit_without_a_time_sends_neither_field(api: ApiClient, sent: Sent) -> None:
    api.submit("echo", {"message": "x"})
    assert sent.body == {"job_type": "echo", "payload": {"message": "x"}}
    api.submit("echo", {"message": "x"}, delay_seconds=30)
    assert sent.body == {"job_type": "echo", "payload": {"message": "x"}, "delay_seconds": 30}


@pytest.mark.parametrize(
    ("key_header", "header", "value"),
    [
        ("bearer", "Authorization", "Bearer dtq_id_secret"),
        ("x-api-key", "X-API-Key", "dtq_id_secret"),
    ],
)
def test_the_key_goes_in_the_header_asked_for(
    sent: Sent, key_header: Any, header: str, value: str
) -> None:
    transport = httpx.MockTransport(sent)
    with ApiClient(
        "http://api.example", "dtq_id_secret", transport=transport, key_header=key_header
    ) as api:
        api.get("j1")
    headers = sent.requests[-1].headers
    assert headers[header] == value
    other = "X-API-Key" if header == "Authorization" else "Authorization"
    assert other not in headers, "only one of the two headers is sent"
    assert credentials(headers) == "dtq_id_secret", "the API reads the key from it"


def test_the_key_goes_as_a_bearer_token_by_default_and_no_header_without_one(sent: Sent) -> None:
    transport = httpx.MockTransport(sent)
    with ApiClient("http://api.example", "dtq_id_secret", transport=transport) as api:
        api.get("j1")
    assert sent.requests[-1].headers["Authorization"] == "Bearer dtq_id_secret"
    with ApiClient("http://api.example", transport=transport, key_header="x-api-key") as api:
        api.get("j1")
    assert credentials(sent.requests[-1].headers) is None


def test_an_unknown_key_header_is_refused() -> None:
    with pytest.raises(ValueError, match="key_header"):
        ApiClient("http://api.example", "k", key_header="X-API-Key")  # type: ignore[arg-type]


class Server:
    """A job that moves through ``states``, one change each time a long-poll asks for
    one (as GET /jobs/{id} with Prefer: wait does), or never when it does not wait."""

    def __init__(self, states: list[str], *, honours_wait: bool = True) -> None:
        self.states = states
        self.honours_wait = honours_wait
        self.seen: list[httpx.Request] = []
        self.at = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        held = request.headers.get("If-None-Match")
        if held is not None and self.honours_wait and "Prefer" in request.headers:
            self.at = min(self.at + 1, len(self.states) - 1)  # it changed while it waited
        etag = f'"{self.at}"'
        headers = {"ETag": etag}
        if self.honours_wait and "Prefer" in request.headers:
            headers["Preference-Applied"] = request.headers["Prefer"]
        if held == etag:
            return httpx.Response(304, headers=headers)
        return httpx.Response(
            200, json={"job_id": "j1", "state": self.states[self.at]}, headers=headers
        )


def test_watch_long_polls_and_never_sleeps_while_the_server_waits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("time.sleep", lambda s: pytest.fail(f"slept {s}s"))
    server = Server(["queued", "running", "completed"])
    with ApiClient("http://dtq", transport=httpx.MockTransport(server)) as api:
        states = [job["state"] for job in api.watch("j1")]
    assert states == ["queued", "running", "completed"]
    first, *rest = server.seen
    assert "Prefer" not in first.headers, "the first read has no copy to wait on"
    assert all(r.headers["Prefer"] == "wait=25" and r.headers["If-None-Match"] for r in rest)


def test_watch_polls_a_server_that_does_not_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    pauses: list[float] = []
    server = Server(["running"], honours_wait=False)

    def pause(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 3:
            server.states.append("completed")
            server.at = 1

    monkeypatch.setattr("time.sleep", pause)
    with ApiClient("http://dtq", transport=httpx.MockTransport(server)) as api:
        states = [job["state"] for job in api.watch("j1", interval=0.2)]
    assert states == ["running", "completed"]
    assert pauses == pytest.approx([0.2, 0.3, 0.45]), "the pause grows while nothing changes"
