"""Pauses per job type and priority (shared/pauses.py): a held delivery spends no
attempt, loses no message, and the job runs once resumed."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from shared.jobs import JobState, Priority
from shared.jobtypes import JobContext, JobTypeRegistry, default_registry
from shared.messages import Delivery, JobMessage
from shared.pauses import PAUSED_STAGE, Pauses, marker_of
from shared.submissions import Submission
from tests.unit.conftest import Parts
from tests.unit.test_worker_deliveries import deliver


class Empty(BaseModel):
    pass


@pytest.fixture
def calls() -> list[int]:
    return []


@pytest.fixture
def registry(calls: list[int]) -> JobTypeRegistry:
    async def handler(payload: Empty, ctx: JobContext) -> dict[str, bool]:
        calls.append(ctx.attempt)
        return {"ok": True}

    registry = default_registry()
    registry.register("test", Empty, handler)
    return registry


@pytest.fixture
def pauses(parts: Parts) -> Pauses:
    pauses = parts.runtime.pauses
    assert pauses is not None and parts.worker.pauses is pauses
    pauses.recheck_seconds, pauses.cache_seconds = 0.2, 0.0
    return pauses


async def test_a_paused_type_spends_no_attempt_and_its_message_comes_back(
    parts: Parts, pauses: Pauses, calls: list[int]
) -> None:
    job = await parts.submissions.submit("t1", Submission("test", {}, 3))
    _, new = await pauses.pause("job_type", "test", by="op", reason="maintenance")
    assert new
    for _ in range(3):  # each delivery is held and sends its message again
        await parts.worker.handle(await deliver(parts, max_wait=2))
        held = await parts.status.get("t1", job.job_id)
        assert held.state is JobState.QUEUED and held.attempt == 0
        assert held.stage == PAUSED_STAGE and calls == []
        depth = await parts.queue.depth()
        assert depth.scheduled + depth.active == 1, "one copy: nothing lost, nothing doubled"

    assert await pauses.resume("job_type", "test") is not None
    await parts.worker.handle(await deliver(parts, max_wait=2))
    done = await parts.status.get("t1", job.job_id)
    assert done.state is JobState.COMPLETED and done.attempt == 1 and calls == [1]
    assert done.error is None


async def test_a_paused_priority_holds_only_its_jobs(
    parts: Parts, pauses: Pauses, calls: list[int]
) -> None:
    await pauses.pause("priority", "normal")
    low = parts.runtime.queue(parts.runtime.settings.jobs_queue_low)
    job = await parts.submissions.submit("t1", Submission("test", {}, priority=Priority.LOW))
    [message] = await low.receive(1, max_wait=2)
    await low.complete(message)
    delivery = Delivery(JobMessage.decode(message.body), message.message_id, 1)
    await parts.worker.handle(delivery)
    assert (await parts.status.get("t1", job.job_id)).state is JobState.COMPLETED

    held = await parts.submissions.submit("t1", Submission("test", {}))
    await parts.worker.handle(await deliver(parts, max_wait=2))
    stored = await parts.status.get("t1", held.job_id)
    assert stored.state is JobState.QUEUED and stored.attempt == 0 and calls == [1]


async def test_a_retrying_job_keeps_its_spent_attempts_while_held(
    parts: Parts, pauses: Pauses
) -> None:
    job = await parts.submissions.submit("t1", Submission("test", {}, 3))

    # The job's first attempt failed: it waits for attempt 2 as "retrying".
    stored = await parts.status.get("t1", job.job_id)
    await parts.status.replace(
        stored.moved_to(JobState.RUNNING, attempt=1).moved_to(JobState.RETRYING)
    )
    [first] = await parts.queue.receive(1, max_wait=2)
    await parts.queue.complete(first)
    second = JobMessage(job.job_id, "t1", 2)
    await pauses.pause("job_type", "test")
    await parts.worker.handle(Delivery(second, second.message_id, 1))
    held = await parts.status.get("t1", job.job_id)
    assert held.state is JobState.RETRYING and held.attempt == 1
    [copy] = await parts.queue.receive(1, max_wait=2)
    assert json.loads(copy.body)["attempt"] == 2, "the copy carries the same attempt"


async def test_pauses_are_markers_read_through_a_short_cache(parts: Parts) -> None:
    now = [0.0]
    pauses = Pauses(parts.status, parts.registry.names, 5.0, 2.0, clock=lambda: now[0])
    job = await parts.submissions.submit("t1", Submission("echo", {"message": "x"}))
    assert await pauses.holding(job) is None
    await parts.status.put_marker(
        marker_of("job_type", "echo"), json.dumps({"since": "2026-01-01T00:00:00Z"})
    )
    assert await pauses.holding(job) is None, "read again only after the cache time"
    now[0] = 2.5
    pause = await pauses.holding(job)
    assert pause is not None and pause.kind == "job_type" and pause.value == "echo"
    assert [p.value for p in await pauses.listed()] == ["echo"]
    with pytest.raises(ValueError, match="not one of"):
        await pauses.pause("job_type", "no-such-type")
    with pytest.raises(ValueError, match="not one of"):
        await pauses.pause("priority", "urgent")


async def test_the_stats_show_the_pauses(parts: Parts, pauses: Pauses) -> None:
    await pauses.pause("priority", "low", by="op", reason="backlog")
    body = await parts.runtime.stats.collect("t1")
    assert [(p["kind"], p["value"], p["reason"]) for p in body["pauses"]] == [
        ("priority", "low", "backlog")
    ]
    await pauses.resume("priority", "low")
    assert (await parts.runtime.stats.collect("t1"))["pauses"] == []


async def test_a_tenants_pause_holds_its_jobs_only(
    parts: Parts, pauses: Pauses, calls: list[int]
) -> None:
    """A pause scoped to t1 holds t1's jobs of the type, while t2's run; its marker is
    neither the pause for every tenant nor any other tenant's."""
    await pauses.pause("job_type", "test", tenant="t1", by="t1-key")
    names = {marker_of("job_type", "test"), marker_of("job_type", "test", "t2")}
    assert marker_of("job_type", "test", "t1") not in names
    held = await parts.submissions.submit("t1", Submission("test", {}))
    await parts.worker.handle(await deliver(parts, max_wait=2))
    stored = await parts.status.get("t1", held.job_id)
    assert stored.state is JobState.QUEUED and stored.stage == PAUSED_STAGE and calls == []
    ran = await parts.submissions.submit("t2", Submission("test", {}))
    for _ in range(2):  # t1's copy comes back held again; t2's job runs
        await parts.worker.handle(await deliver(parts, max_wait=2))
    assert (await parts.status.get("t2", ran.job_id)).state is JobState.COMPLETED
    assert (await parts.status.get("t1", held.job_id)).attempt == 0
    assert [p.tenant for p in await pauses.listed("t1")] == ["t1"]
    assert await pauses.listed("t2") == []
    stats = await parts.runtime.stats.collect("t2")
    assert stats["pauses"] == [], "another tenant's pause is not t2's business"
    assert await pauses.resume("job_type", "test") is None, "no pause for every tenant"
    assert await pauses.resume("job_type", "test", "t1") is not None
    await parts.worker.handle(await deliver(parts, max_wait=2))
    assert (await parts.status.get("t1", held.job_id)).state is JobState.COMPLETED


async def test_the_cache_of_pauses_stays_bounded_however_many_tenants(
    parts: Parts, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shared.pauses

    monkeypatch.setattr(shared.pauses, "MAX_CACHED", 50)
    now = [0.0]
    pauses = Pauses(parts.status, parts.registry.names, 5.0, 2.0, clock=lambda: now[0])
    await pauses.pause("job_type", "echo", tenant="t7")
    for i in range(200):
        now[0] += 0.1
        await pauses.listed(f"t{i}")
        assert len(pauses._cache) <= 50 + 20  # the bound, and one listing past it
    assert [p.tenant for p in await pauses.listed("t7")] == ["t7"]
