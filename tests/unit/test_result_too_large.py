"""A result over the result size limit fails its job at once (``ResultTooLarge``, not
retryable): storing it can never succeed, so the handler is not run again."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from shared.jobs import JobState
from shared.jobtypes import JobContext, JobTypeRegistry, default_registry
from shared.messages import Delivery, JobMessage
from shared.ports import MAX_RESULT_BYTES
from shared.submissions import Submission
from tests.unit.conftest import Parts


class Empty(BaseModel):
    pass


class Calls:
    count = 0


@pytest.fixture
def registry() -> JobTypeRegistry:
    registry = default_registry()

    async def huge(payload: Empty, ctx: JobContext) -> Any:
        Calls.count += 1
        return {"rows": ["x" * 1000] * 2000}  # about 2 MB of JSON

    registry.register("huge", Empty, huge)
    return registry


async def test_a_result_over_the_limit_fails_the_job_at_once_without_a_retry(
    parts: Parts,
) -> None:
    Calls.count = 0
    job = await parts.submissions.submit("t1", Submission("huge", {}, max_attempts=5))
    [message] = await parts.queue.receive(1, max_wait=1)
    delivery = Delivery(
        JobMessage.decode(message.body, message.application_properties),
        message.message_id,
        message.delivery_count,
    )
    await parts.worker.handle(delivery)  # returns: the message is completed
    failed = await parts.status.get("t1", job.job_id)
    assert failed.state is JobState.FAILED, failed.state
    assert failed.dead_letter is not None and failed.dead_letter.reason == "ResultTooLarge"
    assert f"{MAX_RESULT_BYTES:,} bytes" in failed.dead_letter.description
    assert failed.error is not None and not failed.error.retryable
    assert await parts.results.get(job.job_id) is None
    depth = await parts.queue.depth()
    assert depth.active + depth.scheduled <= 1, "no retry was scheduled"
    assert Calls.count == 1
