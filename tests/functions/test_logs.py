"""GET /api/v1/jobs/{id}/logs called as a trigger: the lines and state, a strong ETag
and 304, the long-poll, the tenant's own jobs only, and the OpenAPI document."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import azure.functions as func
import pytest

from functions import api
from shared.composition import Runtime
from shared.guarded import guarded_update
from shared.job_logs import log_line
from shared.settings import Settings
from shared.submissions import Submission
from tests.support.triggers import as_json, installed, request, user_function

AT = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    async with installed(Runtime.from_settings(Settings.load(None, data_dir=tmp_path))) as rt:
        yield rt


def _logs(job_id: str, **headers: str) -> func.HttpRequest:
    return request(
        "GET", f"v1/jobs/{job_id}/logs", headers=headers, route_params={"job_id": job_id}
    )


async def _log(rt: Runtime, job_id: str, *messages: str) -> None:
    lines = [log_line(m, AT) for m in messages]
    await guarded_update(rt.status, "local", job_id, lambda j: j.with_logs(lines))


get_logs = user_function(api.bp, "get_job_logs")


async def test_the_lines_and_state_with_an_etag_and_304(runtime: Runtime) -> None:
    job = await runtime.submissions.submit("local", Submission("echo", {"message": "x"}))
    first = await get_logs(_logs(job.job_id))
    assert first.status_code == 200
    assert as_json(first) == {"job_id": job.job_id, "state": "queued", "lines": []}
    etag = first.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")

    await _log(runtime, job.job_id, "found Lisbon", "step 1 of 2 done")
    second = await get_logs(_logs(job.job_id, **{"If-None-Match": etag}))
    assert second.status_code == 200 and second.headers["ETag"] != etag
    assert as_json(second)["lines"] == [
        {"at": "2026-01-02T03:04:05.678000Z", "message": "found Lisbon"},
        {"at": "2026-01-02T03:04:05.678000Z", "message": "step 1 of 2 done"},
    ]
    again = await get_logs(_logs(job.job_id, **{"If-None-Match": second.headers["ETag"]}))
    assert again.status_code == 304 and again.get_body() == b""

    # A change of the job that is not its log or state keeps the logs' ETag.
    await guarded_update(
        runtime.status, "local", job.job_id, lambda j: j.model_copy(update={"stage": "x"})
    )
    same = await get_logs(_logs(job.job_id, **{"If-None-Match": second.headers["ETag"]}))
    assert same.status_code == 304


async def test_the_job_body_leaves_the_logs_out(runtime: Runtime) -> None:
    job = await runtime.submissions.submit("local", Submission("echo", {"message": "x"}))
    await _log(runtime, job.job_id, "a line")
    got = await user_function(api.bp, "get_job")(
        request("GET", f"v1/jobs/{job.job_id}", route_params={"job_id": job.job_id})
    )
    assert "logs" not in as_json(got)


async def test_a_long_poll_answers_at_the_next_line(runtime: Runtime) -> None:
    job = await runtime.submissions.submit("local", Submission("echo", {"message": "x"}))
    etag = (await get_logs(_logs(job.job_id))).headers["ETag"]

    async def log_soon() -> None:
        await asyncio.sleep(0.3)
        await _log(runtime, job.job_id, "later")

    began = time.monotonic()
    _, response = await asyncio.gather(
        log_soon(), get_logs(_logs(job.job_id, **{"If-None-Match": etag, "Prefer": "wait=5"}))
    )
    took = time.monotonic() - began
    assert response.status_code == 200 and as_json(response)["lines"][-1]["message"] == "later"
    assert 0.3 <= took < 1.5, f"answered {took:.2f}s after the request, not at the change"
    assert response.headers["Preference-Applied"] == "wait=5"


async def test_a_long_poll_with_no_change_is_304_after_the_wait(runtime: Runtime) -> None:
    job = await runtime.submissions.submit("local", Submission("echo", {"message": "x"}))
    etag = (await get_logs(_logs(job.job_id))).headers["ETag"]
    began = time.monotonic()
    response = await get_logs(_logs(job.job_id, **{"If-None-Match": etag, "Prefer": "wait=1"}))
    assert response.status_code == 304 and response.headers["ETag"] == etag
    assert time.monotonic() - began >= 0.9


async def test_another_tenants_job_is_not_found(runtime: Runtime) -> None:
    job = await runtime.submissions.submit("local", Submission("echo", {"message": "x"}))
    await _log(runtime, job.job_id, "private")
    _, token = await runtime.access.create_key("acme")
    response = await get_logs(_logs(job.job_id, Authorization=f"Bearer {token}"))
    assert response.status_code == 404
    assert b"private" not in response.get_body()


async def test_the_openapi_document_has_the_endpoint(runtime: Runtime) -> None:
    response = await user_function(api.bp, "openapi_document")(request("GET", "v1/openapi.json"))
    document = as_json(response)
    operation = document["paths"]["/api/v1/jobs/{job_id}/logs"]["get"]
    assert operation["operationId"] == "get_job_logs"
    assert set(operation["responses"]) >= {"200", "304", "404"}
    schemas = document["components"]["schemas"]
    assert set(schemas["JobLogs"]["properties"]) == {"job_id", "state", "lines"}
    assert "logs" not in schemas["Job"]["properties"]
