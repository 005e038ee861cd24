"""What a submission must be to become a job (shared/admission.py), through submit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from shared.errors import ValidationFailed
from shared.jobs import JobState
from shared.submissions import Submission
from tests.unit.conftest import Parts


async def test_submit_normalises_the_payload_with_its_defaults(parts: Parts) -> None:
    job = await parts.submissions.submit("t1", Submission("simulate", {"duration_ms": 5}, 2))
    assert job.payload == {"duration_ms": 5, "steps": 1, "fail_first": 0, "fail_permanently": False}
    assert job.max_attempts == 2


@pytest.mark.parametrize(
    ("submission", "field"),
    [
        (Submission("nope", {}), "job_type"),
        (Submission("echo", {}), "payload.message"),
        (Submission("echo", {"message": "x", "extra": 1}), "payload.extra"),
        (Submission("simulate", {"duration_ms": 1, "steps": 0}), "payload.steps"),
        (Submission("echo", ["not", "an", "object"]), "payload"),
        (Submission("echo", {"message": "x"}, 101), "max_attempts"),
    ],
)
async def test_submit_names_the_bad_field(parts: Parts, submission: Submission, field: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        await parts.submissions.submit("t1", submission)
    assert [e.field for e in info.value.errors] == [field]
    assert (await parts.status.list("t1")).items == [], "nothing is stored"


async def test_unknown_type_lists_the_valid_ones(parts: Parts) -> None:
    with pytest.raises(ValidationFailed, match="echo, simulate"):
        await parts.submissions.submit("t1", Submission("nope", {}))


async def test_scheduled_at_with_an_offset_is_kept_in_utc(parts: Parts) -> None:
    at = datetime.now(UTC) + timedelta(hours=2)
    local = at.astimezone(timezone(timedelta(hours=-5)))
    job = await parts.submissions.submit(
        "t1", Submission("echo", {"message": "x"}, scheduled_at=local)
    )
    assert job.state is JobState.SCHEDULED and job.next_attempt_at == at
    assert job.next_attempt_at.utcoffset() == timedelta(0)


async def test_a_time_in_the_past_means_now(parts: Parts) -> None:
    past = datetime.now(UTC) - timedelta(days=3)
    job = await parts.submissions.submit(
        "t1", Submission("echo", {"message": "x"}, scheduled_at=past)
    )
    assert job.state is JobState.QUEUED and job.next_attempt_at is None
    assert (await parts.queue.depth()).active == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"delay_seconds": 5, "scheduled_at": datetime(2030, 1, 1, tzinfo=UTC)}, "delay_seconds"),
        ({"scheduled_at": datetime(2030, 1, 1)}, "scheduled_at"),
        ({"delay_seconds": -1}, "delay_seconds"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
        ({"timeout_seconds": 10_000}, "timeout_seconds"),
    ],
)
async def test_bad_schedules_and_time_limits_name_their_field(
    parts: Parts, changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationFailed) as info:
        await parts.submissions.submit("t1", Submission("echo", {"message": "x"}, **changes))
    assert [e.field for e in info.value.errors] == [field]
    assert (await parts.queue.depth()).active == 0
