"""Queries (shared/queries.py): a job, its result, a page of jobs, the job types; per tenant."""

from __future__ import annotations

import json

import pytest

from shared.errors import NotFound, ValidationFailed
from shared.submissions import Submission
from tests.unit.conftest import Parts


async def test_another_tenants_job_does_not_exist(parts: Parts) -> None:
    job = await parts.submissions.submit("t1", Submission("echo", {"message": "x"}))
    assert (await parts.queries.get("t1", job.job_id)).job_id == job.job_id
    with pytest.raises(NotFound):
        await parts.queries.get("t2", job.job_id)
    with pytest.raises(NotFound):
        await parts.submissions.cancel("t2", job.job_id)
    with pytest.raises(NotFound):
        await parts.queries.result("t2", job.job_id)
    assert (await parts.queries.list("t2")).items == []


async def test_result_is_not_found_until_completed(parts: Parts) -> None:
    job = await parts.submissions.submit("t1", Submission("echo", {"message": "x"}))
    with pytest.raises(NotFound, match="queued"):
        await parts.queries.result("t1", job.job_id)


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ({"state": "bogus"}, "state"),
        ({"job_type": "bogus"}, "job_type"),
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
    ],
)
async def test_list_validates_filters(parts: Parts, filters: dict, field: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValidationFailed) as info:
        await parts.queries.list("t1", **filters)
    assert [e.field for e in info.value.errors] == [field]


async def test_job_types_describe_their_payloads(parts: Parts) -> None:
    types = {t["job_type"]: t for t in parts.queries.job_types()}
    assert types["echo"]["payload_schema"]["required"] == ["message"]
    json.dumps(types)  # serialisable as is
