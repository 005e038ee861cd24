"""The trigger functions called directly, as the Azure Functions unit-testing guide does
(``get_user_function()`` of the registered function), with no host at all."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from azure.functions.servicebus import ServiceBusMessage

from functions import api
from functions.run_job import bp as run_job_bp
from shared.composition import Runtime
from shared.errors import ValidationFailed
from shared.messages import JobMessage
from tests.support.triggers import Nothing, as_json, on_servicebus, request, user_function


async def test_submit_then_run_the_message_through_the_worker_trigger(runtime: Runtime) -> None:
    submit = user_function(api.bp, "submit_job")
    response = await submit(
        request("POST", "v1/jobs", {"job_type": "echo", "payload": {"message": "hi"}})
    )
    assert response.status_code == 202
    job = as_json(response)
    assert response.headers["Location"] == f"/api/v1/jobs/{job['job_id']}"

    [received] = await runtime.queue(runtime.settings.jobs_queue).receive(1, max_wait=1)
    binding = ServiceBusMessage(
        body=received.body,
        message_id=received.message_id,
        delivery_count=received.delivery_count,
        enqueued_time_utc=datetime.now(UTC),
        # Service Bus application properties may arrive as bytes on the Functions side.
        application_properties={
            k: str(v).encode() for k, v in received.application_properties.items()
        },
        user_properties={},
    )
    await user_function(run_job_bp, "run_job")(binding)

    get = user_function(api.bp, "get_job")
    done = as_json(
        await get(
            request("GET", f"v1/jobs/{job['job_id']}", route_params={"job_id": job["job_id"]})
        )
    )
    assert done["state"] == "completed"
    result = await user_function(api.bp, "get_job_result")(
        request("GET", f"v1/jobs/{job['job_id']}/result", route_params={"job_id": job["job_id"]})
    )
    assert as_json(result)["result"] == {"message": "hi"}
    assert received.message_id == JobMessage(job["job_id"], "local", 1).message_id


async def test_a_malformed_message_raises_so_the_host_abandons_it(runtime: Runtime) -> None:
    run_job = user_function(run_job_bp, "run_job")
    bad = ServiceBusMessage(
        body=b"not json",
        message_id="x",
        delivery_count=1,
        application_properties={},
        user_properties={},
    )
    with pytest.raises(ValidationFailed) as refused:
        await run_job(bad)
    assert "not JSON" in refused.value.detail


async def test_errors_are_problem_json(runtime: Runtime) -> None:
    submit = user_function(api.bp, "submit_job")
    response = await submit(request("POST", "v1/jobs", b"[1, 2"))
    assert response.status_code == 400 and response.mimetype == "application/problem+json"
    response = await submit(request("POST", "v1/jobs", b""))
    assert response.status_code == 400
    response = await submit(
        request("POST", "v1/jobs", {"job_type": "echo", "payload": {"message": 1}})
    )
    assert response.status_code == 422
    assert as_json(response)["errors"] == [
        {"field": "payload.message", "message": "Input should be a valid string"}
    ]
    response = await submit(request("POST", "v1/jobs", {"job_type": "echo", "extra": 1}))
    assert response.status_code == 422 and as_json(response)["errors"][0]["field"] == "extra"


async def test_backend_down_is_503_with_retry_after(runtime: Runtime) -> None:
    runtime._databases[0].close()  # the SQLite backend goes away
    submit = user_function(api.bp, "submit_job")
    response = await submit(
        request("POST", "v1/jobs", {"job_type": "echo", "payload": {"message": "x"}})
    )
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1
    health = await user_function(api.bp, "health")(request("GET", "v1/healthz"))
    assert health.status_code == 503 and as_json(health)["ok"] is False


async def test_on_service_bus_a_failed_job_is_completed_and_a_poison_message_dead_lettered(
    tmp_path: Path,
) -> None:
    """The Functions host's own rule (autoCompleteMessages: true, no settlement
    extension): return completes, an exception abandons. A job that fails for good runs
    once, is recorded failed and its message completed; a message that names no job is
    abandoned until Service Bus dead-letters it after maxDeliveryCount."""
    from shared.jobtypes.errors import PermanentJobError
    from shared.ports import OutgoingMessage
    from shared.submissions import Submission

    runs: list[int] = []

    async def refuse(payload: Nothing, ctx: Any) -> None:
        runs.append(ctx.attempt)
        raise PermanentJobError("cannot ever work")

    async with on_servicebus(
        tmp_path, "refuse", refuse, lock_duration=30, max_delivery_count=4
    ) as (rt, queue):
        job = await rt.submissions.submit("local", Submission("refuse", {}))
        await queue.send([OutgoingMessage("poison", b"not json")])
        run_job = user_function(run_job_bp, "run_job")
        deliveries: dict[str, int] = {}
        while messages := await queue.receive(1, max_wait=0.2):
            [message] = messages
            deliveries[message.message_id] = deliveries.get(message.message_id, 0) + 1
            binding = ServiceBusMessage(
                body=message.body,
                message_id=message.message_id,
                delivery_count=message.delivery_count,
                application_properties=dict(message.application_properties),
                user_properties={},
            )
            try:
                await run_job(binding)
            except ValidationFailed:
                await queue.abandon(message)  # what the Functions host does on an exception
            else:
                await queue.complete(message)
        assert sorted(deliveries.values()) == [1, 4] and deliveries["poison"] == 4
        assert runs == [1], "run once"
        [letter] = await queue.peek_dead_letters()
        assert (letter.message_id, letter.dead_letter_reason) == (
            "poison",
            "MaxDeliveryCountExceeded",
        )
        stored = await rt.status.get("local", job.job_id)
        assert stored.dead_letter is not None and stored.dead_letter.reason == "PermanentFailure"


# --- long-poll: GET /jobs/{id} with If-None-Match and Prefer: wait=N (RFC 7240) ---------


async def _submitted(runtime: Runtime) -> tuple[str, str]:
    response = await user_function(api.bp, "submit_job")(
        request("POST", "v1/jobs", {"job_type": "echo", "payload": {"message": "x"}})
    )
    return as_json(response)["job_id"], response.headers["ETag"]


def _get(job_id: str, **headers: str) -> func.HttpRequest:
    return request("GET", f"v1/jobs/{job_id}", headers=headers, route_params={"job_id": job_id})


async def test_a_long_poll_answers_as_soon_as_the_job_changes(runtime: Runtime) -> None:
    job_id, etag = await _submitted(runtime)
    get_job = user_function(api.bp, "get_job")

    async def cancel_soon() -> None:
        await asyncio.sleep(0.3)
        await runtime.submissions.cancel("local", job_id)

    began = time.monotonic()
    _, response = await asyncio.gather(
        cancel_soon(), get_job(_get(job_id, **{"If-None-Match": etag, "Prefer": "wait=1000"}))
    )
    took = time.monotonic() - began
    assert response.status_code == 200 and as_json(response)["state"] == "cancelled"
    assert 0.3 <= took < 1.0, f"answered {took:.2f}s after the request, not at the change"
    assert response.headers["Preference-Applied"] == "wait=60", "capped at 60 s"
    assert response.headers["ETag"] != etag


async def test_an_unchanged_job_is_304_after_the_wait(runtime: Runtime) -> None:
    job_id, etag = await _submitted(runtime)
    get_job = user_function(api.bp, "get_job")
    began = time.monotonic()
    response = await get_job(_get(job_id, **{"If-None-Match": etag, "Prefer": "wait=1"}))
    assert response.status_code == 304 and 1.0 <= time.monotonic() - began < 1.5
    assert response.headers["ETag"] == etag and response.headers["Preference-Applied"] == "wait=1"


@pytest.mark.parametrize("match", [None, "*", '"another"'])
async def test_without_a_current_copy_named_there_is_no_wait(
    runtime: Runtime, match: str | None
) -> None:
    job_id, _ = await _submitted(runtime)
    headers = {"Prefer": "wait=30"} | ({"If-None-Match": match} if match else {})
    began = time.monotonic()
    response = await user_function(api.bp, "get_job")(_get(job_id, **headers))
    assert time.monotonic() - began < 0.5
    assert response.status_code == (304 if match == "*" else 200)
