"""Submissions (shared/submissions.py): submit, batches, priorities and cancel."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.errors import BackendUnavailable, Conflict, FieldError, TooLarge, ValidationFailed
from shared.jobs import Job, JobState
from shared.messages import Delivery, JobMessage
from shared.ports import OutgoingMessage
from shared.submissions import Submission
from tests.unit.conftest import Parts


async def test_submit_persists_and_enqueues_one_message(parts: Parts) -> None:
    job = await parts.submissions.submit("t1", Submission("echo", {"message": "hi"}))
    assert job.state is JobState.QUEUED and job.attempt == 0 and job.max_attempts == 3
    stored = await parts.status.get("t1", job.job_id)
    assert stored.payload == {"message": "hi"}
    messages = await parts.queue.receive(10, max_wait=0.2)
    assert len(messages) == 1
    decoded = JobMessage.decode(messages[0].body, messages[0].application_properties)
    assert (decoded.job_id, decoded.tenant_id, decoded.attempt) == (job.job_id, "t1", 1)
    assert decoded.trace_id == job.trace_id


@pytest.mark.parametrize(
    "refusal",
    [BackendUnavailable("queue down"), TooLarge("message over 262144 bytes", 262144), OSError("x")],
    ids=["unavailable", "too-large", "unexpected"],
)
async def test_submit_that_cannot_be_enqueued_is_refused_and_leaves_nothing(
    parts: Parts, monkeypatch: pytest.MonkeyPatch, refusal: Exception
) -> None:
    async def broken_send(messages: list[OutgoingMessage]) -> None:
        raise refusal

    monkeypatch.setattr(parts.queue, "send", broken_send)
    with pytest.raises(type(refusal)):
        await parts.submissions.submit("t1", Submission("echo", {"message": "x"}))
    assert (await parts.status.list("t1")).items == []


async def test_a_job_too_large_to_store_is_refused_as_too_large(parts: Parts) -> None:
    """A job over a status row's size is a permanent TooLarge (the API's 413), not a
    BackendUnavailable (503 for ever); nothing is stored or enqueued."""
    big = Submission("echo", {"message": "\U0001f600" * 300_000})  # 1.2 MB as UTF-16
    with pytest.raises(TooLarge, match="950,000"):
        await parts.submissions.submit("t1", big)
    assert (await parts.status.list("t1")).items == []
    assert await parts.queue.receive(1, max_wait=0.2) == []


async def test_a_delayed_job_is_scheduled_with_a_scheduled_message(parts: Parts) -> None:
    now = datetime.now(UTC)
    job = await parts.submissions.submit(
        "t1", Submission("echo", {"message": "x"}, delay_seconds=30)
    )
    assert job.state is JobState.SCHEDULED and job.next_attempt_at is not None
    assert 29 <= (job.next_attempt_at - now).total_seconds() <= 31
    depth = await parts.queue.depth()
    assert (depth.active, depth.scheduled) == (0, 1), "not receivable before it is due"
    assert await parts.queue.receive(1, max_wait=0.1) == []


async def test_each_priority_has_its_own_queue_and_retries_stay_on_it(parts: Parts) -> None:
    from shared.adapters.sqlite import SqliteJobQueue
    from shared.jobs import Priority
    from shared.priorities import PriorityQueues

    queues = {
        p: SqliteJobQueue(parts.db, f"jobs-{p.value}", lock_duration=5, max_delivery_count=5)
        for p in Priority
    }
    parts.submissions.queues = parts.worker.queues = PriorityQueues(queues)
    job = await parts.submissions.submit(
        "t1", Submission("simulate", {"duration_ms": 0, "fail_first": 1}, priority=Priority.HIGH)
    )
    assert job.priority is Priority.HIGH
    assert await queues[Priority.NORMAL].receive(1, max_wait=0.1) == []
    [message] = await queues[Priority.HIGH].receive(1, max_wait=0.5)
    await queues[Priority.HIGH].complete(message)
    await parts.worker.handle(
        Delivery(JobMessage.decode(message.body), message.message_id, message.delivery_count)
    )
    assert (await parts.status.get("t1", job.job_id)).state is JobState.RETRYING
    depth = await queues[Priority.HIGH].depth()
    assert depth.active + depth.scheduled == 1, "the retry went to the high queue"
    for p in (Priority.NORMAL, Priority.LOW):
        d = await queues[p].depth()
        assert d.active + d.scheduled == 0


async def test_a_batch_that_cannot_be_enqueued_leaves_nothing(
    parts: Parts, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken_send(messages: list[OutgoingMessage]) -> None:
        raise BackendUnavailable("queue down")

    monkeypatch.setattr(parts.queue, "send", broken_send)
    batch = [Submission("echo", {"message": str(i)}) for i in range(10)]
    with pytest.raises(BackendUnavailable):
        await parts.submissions.submit_each("t1", [*batch])
    assert (await parts.status.list("t1")).items == []


async def test_a_batch_is_enqueued_in_order_with_one_message_per_job(parts: Parts) -> None:
    outcomes = await parts.submissions.submit_each(
        "t1", [Submission("echo", {"message": str(i)}) for i in range(30)]
    )
    jobs = [o for o in outcomes if isinstance(o, Job)]
    messages = await parts.queue.receive(50, max_wait=0.2)
    assert [JobMessage.decode(m.body).job_id for m in messages] == [j.job_id for j in jobs]
    assert [j.payload["message"] for j in jobs] == [str(i) for i in range(30)]


async def test_a_batch_accepts_each_valid_job_and_answers_each_invalid_one(parts: Parts) -> None:
    already = ValidationFailed("bad", [FieldError("job_type", "missing")])
    outcomes = await parts.submissions.submit_each(
        "t1",
        [
            Submission("echo", {"message": "a"}),
            Submission("echo", {}),
            already,
            Submission("echo", {"message": "b"}, max_attempts=500),
            Submission("echo", {"message": "c"}),
        ],
    )
    assert [type(o).__name__ for o in outcomes] == [
        "Job",
        "ValidationFailed",
        "ValidationFailed",
        "ValidationFailed",
        "Job",
    ]
    assert outcomes[2] is already
    assert [e.field for e in outcomes[1].errors] == ["payload.message"]  # type: ignore[union-attr]
    stored = {j.job_id for j in (await parts.status.list("t1")).items}
    assert stored == {outcomes[0].job_id, outcomes[4].job_id}  # type: ignore[union-attr]
    assert len(await parts.queue.receive(10, max_wait=0.2)) == 2


async def test_cancel_a_queued_job_is_idempotent(parts: Parts) -> None:
    job = await parts.submissions.submit("t1", Submission("echo", {"message": "x"}))
    cancelled = await parts.submissions.cancel("t1", job.job_id)
    assert cancelled.state is JobState.CANCELLED and cancelled.finished_at is not None
    again = await parts.submissions.cancel("t1", job.job_id)
    assert again.state is JobState.CANCELLED and again.etag == cancelled.etag


async def test_cancel_of_a_running_job_asks_it_to_stop(parts: Parts) -> None:
    job = await parts.submissions.submit("t1", Submission("echo", {"message": "x"}))
    stored = await parts.status.get("t1", job.job_id)
    await parts.status.replace(stored.moved_to(JobState.RUNNING, attempt=1))
    asked = await parts.submissions.cancel("t1", job.job_id)
    assert asked.state is JobState.RUNNING and asked.cancel_requested_at is not None
    again = await parts.submissions.cancel("t1", job.job_id)
    assert again.etag == asked.etag, "asking twice changes nothing"


@pytest.mark.parametrize("state", [JobState.COMPLETED, JobState.FAILED])
async def test_cancel_refuses_finished_jobs(parts: Parts, state: JobState) -> None:
    job = await parts.submissions.submit("t1", Submission("echo", {"message": "x"}))
    stored = await parts.status.get("t1", job.job_id)
    await parts.status.replace(stored.model_copy(update={"state": state}))
    with pytest.raises(Conflict):
        await parts.submissions.cancel("t1", job.job_id)
