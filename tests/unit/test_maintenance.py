"""The Reconciler (shared/maintenance.py): fails the jobs whose message the queue dead-lettered."""

from __future__ import annotations

from typing import Any

import pytest

from shared.jobs import JobState
from shared.maintenance import Reconciler
from shared.messages import JobMessage
from shared.metrics import Metrics
from shared.ports import OutgoingMessage
from shared.submissions import Submission
from tests.unit.conftest import Parts


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
