"""End to end on the local host: the Idempotency-Key matrix."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import BACKENDS, backend_env
from tests.support.api import Api
from tests.support.processes import LocalHost, running_host

pytestmark = pytest.mark.e2e

WINDOW = 2.0


@pytest.fixture(scope="module", params=BACKENDS)
def host(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalHost]:
    env = {**backend_env(request.param, request), "DTQ_IDEMPOTENCY_WINDOW_SECONDS": str(WINDOW)}
    with running_host(
        Path(tmp_path_factory.mktemp("dtq-idem")), env=env, background_stop=True
    ) as local:
        yield local


def post(api: Api, key: str | None, body: dict[str, Any]) -> httpx.Response:
    """Raw HTTP: these tests check the status and headers of each answer."""
    headers = {} if key is None else {"Idempotency-Key": key}
    return api.http.post("/jobs", json=body, headers=headers)


def echo(message: str) -> dict[str, Any]:
    return {"job_type": "echo", "payload": {"message": message}}


def count_jobs(api: Api, message: str) -> int:
    items = api.jobs(limit=500)["items"]
    return sum(1 for j in items if j["payload"].get("message") == message)


def test_a_repeat_with_the_same_key_and_body_returns_the_same_job(api: Api) -> None:
    first = post(api, "order-1", echo("once"))
    assert first.status_code == 202 and first.headers["idempotent-replayed"] == "false"
    again = post(api, "order-1", echo("once"))
    assert again.status_code == 200, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["job_id"] == first.json()["job_id"]
    assert again.headers["location"] == first.headers["location"]
    assert count_jobs(api, "once") == 1


def test_the_same_key_with_another_body_is_a_conflict(api: Api) -> None:
    assert post(api, "order-2", echo("a")).status_code == 202
    other = post(api, "order-2", echo("b"))
    assert other.status_code == 409
    assert other.headers["content-type"].startswith("application/problem+json")
    assert "different request" in other.json()["detail"]
    other_options = post(api, "order-2", {**echo("a"), "priority": "high"})
    assert other_options.status_code == 409, "options are part of the request too"
    assert count_jobs(api, "b") == 0


def test_different_keys_and_no_key_make_different_jobs(api: Api) -> None:
    ids = {
        post(api, "k-a", echo("many")).json()["job_id"],
        post(api, "k-b", echo("many")).json()["job_id"],
        post(api, None, echo("many")).json()["job_id"],
        post(api, None, echo("many")).json()["job_id"],
    }
    assert len(ids) == 4


def test_a_key_expires_after_its_window(api: Api) -> None:
    first = post(api, "order-3", echo("expiring")).json()["job_id"]
    time.sleep(WINDOW + 0.5)
    later = post(api, "order-3", echo("expiring"))
    assert later.status_code == 202 and later.json()["job_id"] != first
    assert post(api, "order-3", echo("other body")).status_code == 409, "the new claim holds"


def test_an_invalid_request_does_not_use_up_the_key(api: Api) -> None:
    bad = post(api, "order-4", {"job_type": "echo", "payload": {}})
    assert bad.status_code == 422
    assert post(api, "order-4", echo("fixed")).status_code == 202


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there"])
def test_a_malformed_key_is_refused(api: Api, key: str) -> None:
    response = post(api, key, echo("never"))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "Idempotency-Key"


def test_concurrent_repeats_create_one_job(api: Api) -> None:
    def send(_: int) -> httpx.Response:
        return post(api, "burst-1", echo("burst"))

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(send, range(8)))
    assert sorted(r.status_code for r in responses) == [200] * 7 + [202]
    assert len({r.json()["job_id"] for r in responses}) == 1
    assert count_jobs(api, "burst") == 1
