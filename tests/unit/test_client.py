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
