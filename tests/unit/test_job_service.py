"""The services (submissions, queries, dead letters, the reconciler, health) on the real
embedded adapters."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from shared.errors import (
    BackendUnavailable,
    Conflict,
    FieldError,
    NotFound,
    TooLarge,
    ValidationFailed,
)
from shared.jobs import Job, JobState
from shared.maintenance import Reconciler
from shared.messages import Delivery, JobMessage
from shared.metrics import Metrics
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


async def test_job_types_describe_their_payloads(parts: Parts) -> None:
    types = {t["job_type"]: t for t in parts.queries.job_types()}
    assert types["echo"]["payload_schema"]["required"] == ["message"]
    json.dumps(types)  # serialisable as is


async def test_health_reports_a_closed_backend(parts: Parts) -> None:
    assert (await parts.health.check())["ok"] is True
    parts.db.close()
    report = await parts.health.check()
    assert report["ok"] is False
    assert not report["checks"]["status_store"]["ok"]


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


# --- scheduling and time limits ---------------------------------------------------


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


async def test_jobs_whose_message_the_queue_dead_lettered_are_failed(parts: Parts) -> None:
    stuck = await parts.submissions.submit("t1", Submission("echo", {"message": "crashes"}))
    done = await parts.submissions.submit("t1", Submission("echo", {"message": "fine"}))
    await parts.queue.send([OutgoingMessage("poison", b"{not json")])
    # The queue gives up on each message (a worker crashing on it every time).
    messages = await parts.queue.receive(10, max_wait=0.5)
    assert len(messages) == 3
    for message in messages:
        await parts.queue.dead_letter(message, "MaxDeliveryCountExceeded", "10 deliveries")
    stored = await parts.status.get("t1", stuck.job_id)
    await parts.status.replace(stored.moved_to(JobState.RUNNING, attempt=1))
    finished = await parts.status.get("t1", done.job_id)
    finished = await parts.status.replace(finished.moved_to(JobState.RUNNING, attempt=1))
    await parts.status.replace(finished.moved_to(JobState.COMPLETED))

    parts.reconciler.metrics = metrics = Metrics(prometheus=True)
    assert await parts.reconciler.reconcile() == 1
    assert metrics.prometheus is not None
    counted = metrics.prometheus.registry.get_sample_value(
        "dtq_jobs_failed_total", {"job_type": "echo", "reason": "MaxDeliveryCountExceeded"}
    )
    assert counted == 1, "a job failed by the reconciler counts as failed"
    failed = await parts.status.get("t1", stuck.job_id)
    assert failed.state is JobState.FAILED
    assert failed.dead_letter is not None
    assert failed.dead_letter.reason == "MaxDeliveryCountExceeded"
    assert "10 deliveries" in failed.dead_letter.description
    assert (await parts.status.get("t1", done.job_id)).state is JobState.COMPLETED
    assert await parts.reconciler.reconcile() == 0, "goes on from where it stopped"
    assert stuck.job_id in [j.job_id for j in (await parts.dead_letters.list("t1")).items]


async def test_a_requeued_job_is_not_failed_for_its_earlier_dead_lettered_message(
    parts: Parts,
) -> None:
    """The worker dead-letters a failed job's last message; after a requeue from the DLQ
    the job waits on its next attempt, and that old message must not fail it again."""
    job = await parts.submissions.submit("t1", Submission("echo", {"message": "again"}))
    [message] = await parts.queue.receive(1, max_wait=0.5)
    stored = await parts.status.get("t1", job.job_id)
    running = await parts.status.replace(stored.moved_to(JobState.RUNNING, attempt=1))
    await parts.status.replace(running.moved_to(JobState.FAILED))
    await parts.queue.dead_letter(message, "MaxAttemptsExceeded", "attempt 1 of 1 failed")
    requeued = await parts.dead_letters.requeue("t1", job.job_id)
    assert (requeued.state, requeued.attempt) == (JobState.QUEUED, 1)

    assert await parts.reconciler.reconcile() == 0
    assert (await parts.status.get("t1", job.job_id)).state is JobState.QUEUED


async def test_a_job_too_large_to_store_is_refused_as_too_large(parts: Parts) -> None:
    """A job over a status row's size is a permanent TooLarge (the API's 413), not a
    BackendUnavailable (503 for ever); nothing is stored or enqueued."""
    big = Submission("echo", {"message": "\U0001f600" * 300_000})  # 1.2 MB as UTF-16
    with pytest.raises(TooLarge, match="950,000"):
        await parts.submissions.submit("t1", big)
    assert (await parts.status.list("t1")).items == []
    assert await parts.queue.receive(1, max_wait=0.2) == []


def _peeks(parts: Parts, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sequence numbers each peek of the dead-letter queue started from."""
    starts: list[int] = []
    peek = parts.queue.peek_dead_letters

    async def recorded(max_messages: int = 50, from_sequence_number: int = 0) -> Any:
        starts.append(from_sequence_number)
        return await peek(max_messages, from_sequence_number)

    monkeypatch.setattr(parts.queue, "peek_dead_letters", recorded)
    return starts


async def test_the_reconcilers_place_survives_a_new_instance(
    parts: Parts, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the reconciler got to is kept in the status store: a new reconciler (a cold
    instance) goes on from there instead of reading the dead-letter queue from the start."""
    jobs = [
        await parts.submissions.submit("t1", Submission("echo", {"message": "x"})) for _ in range(3)
    ]
    for message in await parts.queue.receive(10, max_wait=0.5):
        await parts.queue.dead_letter(message, "MaxDeliveryCountExceeded", "10 deliveries")
    assert await parts.reconciler.reconcile() == 3
    for job in jobs:
        assert (await parts.status.get("t1", job.job_id)).state is JobState.FAILED

    cold = Reconciler(status=parts.status, queue=parts.queue)
    starts = _peeks(parts, monkeypatch)
    assert await cold.reconcile() == 0
    assert starts and starts[0] > 0, f"the cold instance read from the start: {starts}"


async def test_a_message_dead_lettered_after_a_higher_numbered_one_is_not_skipped(
    parts: Parts,
) -> None:
    first = await parts.submissions.submit("t1", Submission("echo", {"message": "slow"}))
    second = await parts.submissions.submit("t1", Submission("echo", {"message": "fast"}))
    messages = await parts.queue.receive(10, max_wait=0.5)
    by_job = {JobMessage.decode(m.body, m.application_properties).job_id: m for m in messages}
    assert by_job[first.job_id].sequence_number < by_job[second.job_id].sequence_number
    await parts.queue.dead_letter(by_job[second.job_id], "MaxDeliveryCountExceeded", "d")
    assert await parts.reconciler.reconcile() == 1
    # the lower-numbered message reaches the dead-letter queue only now
    await parts.queue.dead_letter(by_job[first.job_id], "MaxDeliveryCountExceeded", "d")
    failed = 0
    for _ in range(3):  # within one sweep of the (short) queue
        failed += await parts.reconciler.reconcile()
    assert failed == 1
    assert (await parts.status.get("t1", first.job_id)).state is JobState.FAILED
