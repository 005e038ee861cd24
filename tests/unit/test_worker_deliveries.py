"""Worker: what each delivery means, and what each attempt's outcome does to the job."""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from shared.jobs import Job, JobState
from shared.jobtypes import JobContext, JobTypeRegistry, default_registry
from shared.jobtypes.errors import JobCancelled, JobDeferred, PermanentJobError, TransientJobError
from shared.messages import Delivery, JobMessage
from shared.retries import RetryPolicy
from shared.submissions import Submission
from tests.unit.conftest import Parts


class Empty(BaseModel):
    pass


class Behaviour:
    """Handlers whose outcome each test chooses."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.outcome: Any = {"ok": True}
        self.gate: asyncio.Event | None = None

    async def handler(self, payload: Empty, ctx: JobContext) -> Any:
        self.calls.append(ctx.attempt)
        if self.gate is not None:
            await self.gate.wait()
        outcome = self.outcome(ctx) if callable(self.outcome) else self.outcome
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


@pytest.fixture
def behaviour() -> Behaviour:
    return Behaviour()


@pytest.fixture
def registry(behaviour: Behaviour) -> JobTypeRegistry:
    registry = default_registry()
    registry.register("test", Empty, behaviour.handler)
    return registry


async def submit(
    parts: Parts, job_type: str = "test", payload: Any = None, attempts: int = 3
) -> Job:
    job = await parts.submissions.submit("t1", Submission(job_type, payload or {}, attempts))
    return job


async def deliver(parts: Parts, max_wait: float = 1.0) -> Delivery:
    """Receive the next message and complete it, as the host does after the function returns."""
    [message] = await parts.queue.receive(1, max_wait=max_wait)
    await parts.queue.complete(message)
    return Delivery(
        JobMessage.decode(message.body, message.application_properties),
        message.message_id,
        message.delivery_count,
    )


async def submit_and_run(
    parts: Parts, job_type: str = "test", payload: Any = None, attempts: int = 3
) -> Job:
    """Submit a job and hand its first delivery to the worker: the job as stored after."""
    job = await submit(parts, job_type, payload, attempts)
    await parts.worker.handle(await deliver(parts))
    return await parts.status.get("t1", job.job_id)


async def test_echo_completes_with_its_result(parts: Parts) -> None:
    done = await submit_and_run(parts, "echo", {"message": "hello"})
    assert done.state is JobState.COMPLETED and done.progress == 100 and done.attempt == 1
    assert done.started_at is not None and done.finished_at is not None
    stored = await parts.results.get(done.job_id)
    assert stored is not None and stored.result == {"message": "hello"}


async def test_progress_reports_are_visible_while_running(parts: Parts) -> None:
    job = await submit(parts, "simulate", {"duration_ms": 600, "steps": 3})
    seen: set[tuple[int, str]] = set()

    async def watch() -> None:
        while True:
            current = await parts.status.get("t1", job.job_id)
            if current.state is JobState.RUNNING:
                seen.add((current.progress, current.stage))
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch())
    await parts.worker.handle(await deliver(parts))
    watcher.cancel()
    assert {(33, "step 1 of 3"), (67, "step 2 of 3")} <= seen


async def test_transient_failure_schedules_the_next_attempt(
    parts: Parts, behaviour: Behaviour
) -> None:
    behaviour.outcome = TransientJobError("flaky")
    retrying = await submit_and_run(parts)
    assert retrying.state is JobState.RETRYING and retrying.next_attempt_at is not None
    assert retrying.error is not None
    assert (retrying.error.type, retrying.error.retryable, retrying.error.attempt) == (
        "TransientJobError",
        True,
        1,
    )
    assert retrying.error.message == "flaky"
    depth = await parts.queue.depth()  # one read: the retry may fall due between two
    assert depth.scheduled + depth.active == 1

    behaviour.outcome = {"second": True}
    delivery = await deliver(parts, max_wait=2)
    assert delivery.message.attempt == 2
    await parts.worker.handle(delivery)
    done = await parts.status.get("t1", retrying.job_id)
    assert done.state is JobState.COMPLETED and done.attempt == 2
    assert [e.attempt for e in done.errors] == [1] and done.error is None
    assert behaviour.calls == [1, 2]


async def test_retry_after_from_the_handler_is_honoured(parts: Parts, behaviour: Behaviour) -> None:
    behaviour.outcome = TransientJobError("rate limited", retry_after=30)
    retrying = await submit_and_run(parts)
    assert retrying.next_attempt_at is not None
    # Honoured even past the backoff cap (0.1 s in these tests), up to its own cap (60 s).
    assert (retrying.next_attempt_at - retrying.updated_at).total_seconds() == pytest.approx(
        30, abs=0.01
    )
    depth = await parts.queue.depth()
    assert (depth.active, depth.scheduled) == (0, 1), "the retry waits as a scheduled message"


async def test_attempts_run_out_and_the_job_fails(parts: Parts, behaviour: Behaviour) -> None:
    behaviour.outcome = TransientJobError("always")
    job = await submit(parts, attempts=2)
    await parts.worker.handle(await deliver(parts))
    last = await deliver(parts, max_wait=2)
    await parts.worker.handle(last)  # returns: the host completes the message
    failed = await parts.status.get("t1", job.job_id)
    assert failed.state is JobState.FAILED and failed.attempt == 2
    assert [e.attempt for e in failed.errors] == [1, 2]
    assert failed.dead_letter is not None and failed.dead_letter.reason == "MaxAttemptsExceeded"
    assert "always" in failed.dead_letter.description
    assert (await parts.queue.depth()).active == 0 and (await parts.queue.depth()).scheduled == 0


async def test_permanent_failure_is_not_retried(parts: Parts, behaviour: Behaviour) -> None:
    behaviour.outcome = PermanentJobError("bad input")
    job = await submit(parts)
    delivery = await deliver(parts)
    await parts.worker.handle(delivery)  # returns: the message is completed, not dead-lettered
    failed = await parts.status.get("t1", job.job_id)
    assert failed.state is JobState.FAILED and failed.error is not None
    assert failed.error.retryable is False
    assert failed.dead_letter is not None and failed.dead_letter.reason == "PermanentFailure"
    assert failed.dead_letter.description == "bad input"
    assert behaviour.calls == [1]
    # The same message again (a crash before it was settled): the job is terminal, so
    # this is a no-op that returns, and the host completes it.
    await parts.worker.handle(Delivery(delivery.message, delivery.message_id, 2))
    assert behaviour.calls == [1]
    assert (await parts.status.get("t1", job.job_id)).updated_at == failed.updated_at
    depth = await parts.queue.depth()
    assert depth.active == depth.scheduled == 0


async def test_unexpected_exceptions_are_retryable_with_their_type(
    parts: Parts, behaviour: Behaviour
) -> None:
    behaviour.outcome = ValueError("oops")
    retrying = await submit_and_run(parts)
    assert retrying.state is JobState.RETRYING and retrying.error is not None
    assert retrying.error.type == "ValueError" and "oops" in retrying.error.message


async def test_cancellation_seen_at_a_progress_point_ends_the_job_cancelled(
    parts: Parts, behaviour: Behaviour
) -> None:
    behaviour.outcome = JobCancelled("stop")
    assert (await submit_and_run(parts)).state is JobState.CANCELLED


async def test_delivery_of_a_cancelled_job_is_a_no_op(parts: Parts, behaviour: Behaviour) -> None:
    job = await submit(parts)
    await parts.submissions.cancel("t1", job.job_id)
    await parts.worker.handle(await deliver(parts))
    assert behaviour.calls == []
    assert (await parts.status.get("t1", job.job_id)).state is JobState.CANCELLED


async def test_delivery_of_a_finished_job_is_a_no_op(parts: Parts, behaviour: Behaviour) -> None:
    job = await submit(parts)
    delivery = await deliver(parts)
    await parts.worker.handle(delivery)
    redelivered = Delivery(delivery.message, delivery.message_id, delivery.delivery_count + 1)
    await parts.worker.handle(redelivered)
    assert behaviour.calls == [1]
    assert (await parts.status.get("t1", job.job_id)).state is JobState.COMPLETED


async def test_delivery_for_an_unknown_job_is_a_no_op(parts: Parts) -> None:
    await parts.worker.handle(Delivery(JobMessage("01unknown", "t1", 1), "x", 1))


async def test_delivery_for_another_tenant_is_a_no_op(parts: Parts, behaviour: Behaviour) -> None:
    job = await submit(parts)
    await parts.worker.handle(Delivery(JobMessage(job.job_id, "t2", 1), "x", 1))
    assert behaviour.calls == []


# -- the delivery table's rows for a running attempt: its lease decides, not the count --


async def start_running(
    parts: Parts, behaviour: Behaviour, lease: float = 10.0, renew: float = 2.5
) -> tuple[Job, Delivery, asyncio.Task[None]]:
    """A job whose attempt 1 runs (its handler waits on ``behaviour.gate``) under a
    lease of ``lease`` seconds renewed every ``renew``."""
    parts.worker.timing = replace(
        parts.worker.timing, lease_seconds=lease, lease_renew_seconds=renew
    )
    behaviour.gate = asyncio.Event()
    job = await submit(parts)
    delivery = await deliver(parts)
    run = asyncio.create_task(parts.worker.handle(delivery))
    while not behaviour.calls:
        await asyncio.sleep(0.01)
    return await parts.status.get("t1", job.job_id), delivery, run


async def scheduled_ids(parts: Parts) -> list[str]:
    rows = parts.db.read(
        lambda c: c.execute(
            "SELECT message_id FROM queue_messages WHERE status = 0 ORDER BY seq"
        ).fetchall()
    )
    return [row[0] for row in await rows]


async def test_starting_an_attempt_takes_its_lease_and_settling_ends_it(
    parts: Parts, behaviour: Behaviour
) -> None:
    running, _, run = await start_running(parts, behaviour, lease=10)
    assert running.state is JobState.RUNNING and running.lease_holder
    assert running.lease_until is not None
    left = (running.lease_until - datetime.now(UTC)).total_seconds()
    assert 9 < left <= 10
    behaviour.gate.set()  # type: ignore[union-attr]
    await run
    done = await parts.status.get("t1", running.job_id)
    assert done.state is JobState.COMPLETED
    assert (done.lease_until, done.lease_holder) == (None, None)


async def test_a_delivery_while_the_lease_is_live_is_deferred_to_one_copy(
    parts: Parts, behaviour: Behaviour
) -> None:
    running, delivery, run = await start_running(parts, behaviour, lease=1.0, renew=5)
    assert running.lease_until is not None
    # A redelivery (the lock was lost) and the same message again: neither runs the
    # attempt, whatever its delivery count; both return, so their messages complete.
    for count in (2, 1, 7):
        await parts.worker.handle(Delivery(delivery.message, delivery.message_id, count))
    assert behaviour.calls == [1]
    copy_id = delivery.message.lease_copy_id(running.lease_until)
    assert copy_id == f"{running.job_id}.1.lease-{round(running.lease_until.timestamp() * 1000)}"
    assert await scheduled_ids(parts) == [copy_id], "one copy, due at the lease's end"
    behaviour.gate.set()  # type: ignore[union-attr]
    await run
    # The copy comes when the lease would end; the job is done by then: a no-op.
    [message] = await parts.queue.receive(1, max_wait=3)
    assert message.message_id == copy_id
    await parts.queue.complete(message)
    await parts.worker.handle(Delivery(delivery.message, message.message_id, 1))
    assert behaviour.calls == [1] and await scheduled_ids(parts) == []


async def test_a_copy_that_finds_the_lease_renewed_waits_again(
    parts: Parts, behaviour: Behaviour
) -> None:
    running, delivery, run = await start_running(parts, behaviour, lease=0.8, renew=0.2)
    await parts.worker.handle(Delivery(delivery.message, delivery.message_id, 2))
    [first_copy] = await scheduled_ids(parts)
    copy = await deliver(parts, max_wait=3)  # due at the first lease's end
    assert copy.message_id == first_copy
    await parts.worker.handle(copy)
    [second_copy] = await scheduled_ids(parts)
    assert second_copy != first_copy, "the run renewed its lease: a copy for the new end"
    assert behaviour.calls == [1]
    assert (await parts.status.get("t1", running.job_id)).lease_holder == running.lease_holder
    behaviour.gate.set()  # type: ignore[union-attr]
    await run
    await parts.worker.handle(await deliver(parts, max_wait=3))
    assert behaviour.calls == [1]
    done = await parts.status.get("t1", running.job_id)
    assert done.state is JobState.COMPLETED and done.delivery_count == 1


async def test_a_lapsed_lease_is_taken_over_and_the_old_run_stops(
    parts: Parts, behaviour: Behaviour
) -> None:
    parts.worker.timing = replace(parts.worker.timing, cancel_check_seconds=0.05)
    behaviour.outcome = lambda ctx: {"run": len(behaviour.calls)}
    running, delivery, old = await start_running(parts, behaviour, lease=10)
    # The old run stalls past its lease (as if its process froze): it lapses.
    past = datetime.now(UTC) - timedelta(seconds=1)
    await parts.status.replace(running.with_lease(past))
    taken = asyncio.create_task(
        parts.worker.handle(Delivery(delivery.message, delivery.message_id, 2))
    )
    while len(behaviour.calls) < 2:
        await asyncio.sleep(0.01)
    await asyncio.wait_for(old, 2)  # it saw another holder and stopped, settling nothing
    taken_over = await parts.status.get("t1", running.job_id)
    assert taken_over.state is JobState.RUNNING and taken_over.stage == "taken over"
    assert taken_over.lease_holder not in (None, running.lease_holder)
    behaviour.gate.set()  # type: ignore[union-attr]
    await taken
    done = await parts.status.get("t1", running.job_id)
    assert done.state is JobState.COMPLETED and done.attempt == 1 and done.delivery_count == 2
    stored = await parts.results.get(running.job_id)
    assert stored is not None and stored.result == {"run": 2}, "only the new holder finished"


async def running_elsewhere(parts: Parts) -> tuple[Job, datetime]:
    """A job whose attempt 1 shows running under the lease of a holder that is gone (its
    message taken, its lease 30 s long): the job and the lease's end."""
    job = await submit(parts)
    await deliver(parts)
    stored = await parts.status.get("t1", job.job_id)
    until = datetime.now(UTC) + timedelta(seconds=30)
    await parts.status.replace(
        stored.moved_to(JobState.RUNNING, attempt=1, lease_until=until, lease_holder="gone")
    )
    return job, until


async def test_the_copy_due_at_a_lease_that_was_never_renewed_takes_over(
    parts: Parts, behaviour: Behaviour
) -> None:
    """The copy waited for exactly this lease; finding it unchanged means its holder
    stopped renewing, even if this machine's clock says it has not lapsed yet."""
    job, until = await running_elsewhere(parts)
    message = JobMessage(job.job_id, "t1", 1)
    await parts.worker.handle(Delivery(message, "some-other-copy", 1))
    assert behaviour.calls == [], "any other delivery waits"
    await parts.worker.handle(Delivery(message, message.lease_copy_id(until), 1))
    assert behaviour.calls == [1]
    done = await parts.status.get("t1", job.job_id)
    assert done.state is JobState.COMPLETED and done.attempt == 1


async def test_a_run_that_cannot_renew_its_lease_stops_before_it_lapses(
    parts: Parts, behaviour: Behaviour, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.errors import BackendUnavailable

    parts.worker.backoffs = replace(
        parts.worker.backoffs, outage_base_seconds=0.01, outage_max_seconds=0.01
    )
    running, _, run = await start_running(parts, behaviour, lease=0.6, renew=0.15)
    started = asyncio.get_running_loop().time()

    async def down(*args: Any, **kwargs: Any) -> Any:
        raise BackendUnavailable("status store down")

    monkeypatch.setattr(parts.status, "replace", down)
    monkeypatch.setattr(parts.status, "get", down)
    with pytest.raises(BackendUnavailable):  # the host abandons the message
        await asyncio.wait_for(run, 3)
    stopped_after = asyncio.get_running_loop().time() - started
    assert stopped_after < 0.6, "stopped before another delivery could take over"
    assert not behaviour.gate.is_set(), "the handler was cancelled, not finished"  # type: ignore[union-attr]
    monkeypatch.undo()
    assert (await parts.status.get("t1", running.job_id)).state is JobState.RUNNING


async def test_a_run_cancelled_by_its_host_gives_its_lease_back(
    parts: Parts, behaviour: Behaviour
) -> None:
    running, delivery, run = await start_running(parts, behaviour, lease=30)
    run.cancel()  # shutdown past its grace period, or functionTimeout
    with pytest.raises(asyncio.CancelledError):
        await run
    given_back = await parts.status.get("t1", running.job_id)
    assert given_back.lease_until is not None and given_back.lease_until <= datetime.now(UTC)
    behaviour.gate = None
    await parts.worker.handle(Delivery(delivery.message, delivery.message_id, 2))
    assert behaviour.calls == [1, 1], "the abandoned message's redelivery took over at once"
    assert (await parts.status.get("t1", running.job_id)).state is JobState.COMPLETED


async def test_the_next_attempt_starts_while_the_previous_one_still_shows_running(
    parts: Parts, behaviour: Behaviour
) -> None:
    """Its worker sent attempt n + 1 (after its handler failed) and died before marking
    the job retrying: attempt n is over, whatever its lease says."""
    job, _ = await running_elsewhere(parts)
    second = JobMessage(job.job_id, "t1", 2)
    await parts.worker.handle(Delivery(second, second.message_id, 1))
    assert behaviour.calls == [2]
    done = await parts.status.get("t1", job.job_id)
    assert done.state is JobState.COMPLETED and done.attempt == 2


async def test_a_stale_attempt_is_a_no_op(parts: Parts, behaviour: Behaviour) -> None:
    behaviour.outcome = TransientJobError("once")
    job = await submit(parts)
    first = await deliver(parts)
    await parts.worker.handle(first)  # attempt 1 failed, attempt 2 scheduled
    await parts.worker.handle(Delivery(first.message, first.message_id, 2))  # attempt 1 again
    assert behaviour.calls == [1]
    assert (await parts.status.get("t1", job.job_id)).state is JobState.RETRYING


async def test_an_attempt_past_its_deadline_is_a_retryable_timeout(
    parts: Parts, behaviour: Behaviour
) -> None:
    behaviour.gate = asyncio.Event()  # never set: the handler would wait forever
    parts.worker.timing = replace(parts.worker.timing, timeout_seconds=0.2)
    job = await submit(parts)
    await asyncio.wait_for(parts.worker.handle(await deliver(parts)), timeout=5)
    retrying = await parts.status.get("t1", job.job_id)
    assert retrying.state is JobState.RETRYING and retrying.error is not None
    assert retrying.error.type == "JobTimedOut" and retrying.error.retryable is True


async def test_a_backend_outage_is_raised_after_a_growing_wait(
    parts: Parts, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.errors import BackendUnavailable

    async def down(*args: Any) -> bool:
        raise BackendUnavailable("results store down")

    monkeypatch.setattr(parts.results, "put", down)
    parts.worker.backoffs = replace(
        parts.worker.backoffs, outage_base_seconds=0.05, outage_max_seconds=0.15
    )
    job = await submit(parts, "echo", {"message": "x"})
    delivery = await deliver(parts)
    waits = []
    for count in (1, 2, 3, 4):
        started = asyncio.get_running_loop().time()
        with pytest.raises(BackendUnavailable):
            await parts.worker.handle(Delivery(delivery.message, delivery.message_id, count))
        waits.append(asyncio.get_running_loop().time() - started)
    for waited, expected in zip(waits, (0.05, 0.1, 0.15, 0.15), strict=True):
        assert waited >= expected * 0.95
    assert waits[3] < 0.5, "the wait is capped"
    assert (await parts.status.get("t1", job.job_id)).state is JobState.RUNNING, "not failed"


async def test_a_job_of_an_unknown_type_is_dead_lettered_without_retries(parts: Parts) -> None:
    job = await submit(parts, "echo", {"message": "x"})
    parts.worker.registry = JobTypeRegistry()  # this worker no longer knows "echo"
    await parts.worker.handle(await deliver(parts))
    failed = await parts.status.get("t1", job.job_id)
    assert failed.state is JobState.FAILED and failed.attempt == 1
    assert failed.dead_letter is not None and failed.dead_letter.reason == "UnknownJobType"
    assert (await parts.queue.depth()).scheduled == 0


async def test_a_payload_that_no_longer_validates_is_dead_lettered(parts: Parts) -> None:
    job = await submit(parts, "echo", {"message": "x"})
    stored = await parts.status.get("t1", job.job_id)
    await parts.status.replace(stored.model_copy(update={"payload": {"message": 5}}))
    await parts.worker.handle(await deliver(parts))
    failed = await parts.status.get("t1", job.job_id)
    assert failed.state is JobState.FAILED and failed.dead_letter is not None
    assert failed.dead_letter.reason == "InvalidPayload"
    assert "payload.message" in failed.dead_letter.description


async def test_the_retry_schedule_grows_with_jitter_honours_retry_after_and_stops(
    parts: Parts, behaviour: Behaviour
) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    parts.worker.timing = replace(parts.worker.timing, clock=lambda: now)
    parts.worker.backoffs = replace(
        parts.worker.backoffs,
        retry=RetryPolicy(base_seconds=1, max_seconds=8, retry_after_max_seconds=100),
        rng=random.Random(11),
    )
    asks = {3: 20.0}  # attempt 3's provider says: come back in 20 s
    behaviour.outcome = lambda ctx: TransientJobError("down", retry_after=asks.get(ctx.attempt))
    job = await submit(parts, attempts=5)
    delays = []
    for attempt in range(1, 5):
        message = JobMessage(job.job_id, "t1", attempt)
        await parts.worker.handle(Delivery(message, message.message_id, 1))
        stored = await parts.status.get("t1", job.job_id)
        assert stored.state is JobState.RETRYING and stored.next_attempt_at is not None
        delays.append((stored.next_attempt_at - now).total_seconds())
    ceilings = [parts.worker.backoffs.retry.ceiling(a) for a in range(1, 5)]
    assert ceilings == [1, 2, 4, 8], "the backoff ceiling doubles"
    for attempt, (delay, ceiling) in enumerate(zip(delays, ceilings, strict=True), start=1):
        if attempt == 3:
            assert delay == 20.0, "Retry-After is a floor, even past the backoff cap"
        else:
            assert 0 <= delay <= ceiling, (attempt, delay)
    assert len({round(d, 6) for d in delays}) == 4, "jittered, not fixed steps"
    last = JobMessage(job.job_id, "t1", 5)
    await parts.worker.handle(Delivery(last, last.message_id, 1))
    failed = await parts.status.get("t1", job.job_id)
    assert failed.dead_letter is not None and failed.dead_letter.reason == "MaxAttemptsExceeded"
    assert behaviour.calls == [1, 2, 3, 4, 5]
    depth = await parts.queue.depth()  # the first message and the four retries, no more
    assert depth.active + depth.scheduled == 5, "no retry after the last attempt"


async def test_a_jobs_own_time_limit_cancels_its_handler(parts: Parts) -> None:
    job = await parts.submissions.submit(
        "t1", Submission("simulate", {"duration_ms": 5000, "steps": 1}, timeout_seconds=0.2)
    )
    await asyncio.wait_for(parts.worker.handle(await deliver(parts)), timeout=3)
    retrying = await parts.status.get("t1", job.job_id)
    assert retrying.state is JobState.RETRYING and retrying.error is not None
    assert retrying.error.type == "JobTimedOut" and retrying.error.retryable
    assert "time limit of 0.2s" in retrying.error.message


async def test_a_scheduled_job_starts_when_its_message_comes(parts: Parts) -> None:
    job = await parts.submissions.submit(
        "t1", Submission("echo", {"message": "x"}, delay_seconds=0.3)
    )
    assert job.state is JobState.SCHEDULED
    await parts.worker.handle(await deliver(parts, max_wait=2))
    done = await parts.status.get("t1", job.job_id)
    assert done.state is JobState.COMPLETED and done.next_attempt_at is None
    assert done.started_at is not None and done.started_at >= job.next_attempt_at  # type: ignore[operator]


async def test_a_running_job_cancelled_stops_at_its_next_progress_report(parts: Parts) -> None:
    # only progress reports tell it
    parts.worker.timing = replace(parts.worker.timing, cancel_check_seconds=0)
    job = await parts.submissions.submit(
        "t1", Submission("simulate", {"duration_ms": 3000, "steps": 30})
    )
    running = asyncio.create_task(parts.worker.handle(await deliver(parts)))
    await wait_for_state(parts, job.job_id, JobState.RUNNING)
    await parts.submissions.cancel("t1", job.job_id)
    await asyncio.wait_for(running, timeout=2)
    done = await parts.status.get("t1", job.job_id)
    assert done.state is JobState.CANCELLED and done.progress < 100
    assert await parts.results.get(job.job_id) is None


async def test_a_running_job_that_never_reports_is_cancelled_at_its_await(
    parts: Parts, behaviour: Behaviour
) -> None:
    parts.worker.timing = replace(parts.worker.timing, cancel_check_seconds=0.05)
    behaviour.gate = asyncio.Event()  # the handler waits, reporting nothing
    job = await submit(parts)
    running = asyncio.create_task(parts.worker.handle(await deliver(parts)))
    await wait_for_state(parts, job.job_id, JobState.RUNNING)
    await parts.submissions.cancel("t1", job.job_id)
    await asyncio.wait_for(running, timeout=2)
    done = await parts.status.get("t1", job.job_id)
    assert done.state is JobState.CANCELLED and done.cancel_requested_at is not None
    assert behaviour.calls == [1] and not behaviour.gate.is_set()


async def wait_for_state(parts: Parts, job_id: str, state: JobState) -> None:
    async with asyncio.timeout(3):
        while (await parts.status.get("t1", job_id)).state is not state:
            await asyncio.sleep(0.01)


async def test_a_deferred_attempt_is_given_back_unspent_and_runs_again_when_due(
    parts: Parts, behaviour: Behaviour
) -> None:
    behaviour.outcome = lambda ctx: (
        JobDeferred("the quota is used up", 0.2) if len(behaviour.calls) < 3 else {"ok": 1}
    )
    deferred = await submit_and_run(parts, attempts=1)
    assert deferred.state is JobState.SCHEDULED and deferred.attempt == 0, "not spent"
    assert deferred.stage == "deferred: the quota is used up" and deferred.errors == []
    assert deferred.next_attempt_at is not None and deferred.lease_holder is None
    [copy] = await scheduled_ids(parts)
    assert copy.startswith(f"{deferred.job_id}.1.d"), "the same attempt, under a fresh id"

    for _ in range(2):  # deferred twice more: still its one and only attempt
        delivery = await deliver(parts, max_wait=2)
        assert delivery.message.attempt == 1
        await parts.worker.handle(delivery)
    done = await parts.status.get("t1", deferred.job_id)
    assert done.state is JobState.COMPLETED and done.attempt == 1
    assert behaviour.calls == [1, 1, 1]


async def test_a_deferred_job_can_be_cancelled_while_it_waits(
    parts: Parts, behaviour: Behaviour
) -> None:
    behaviour.outcome = JobDeferred("paused", 0.2)
    job = await submit(parts)
    await parts.worker.handle(await deliver(parts))
    cancelled = await parts.submissions.cancel("t1", job.job_id)
    assert cancelled.state is JobState.CANCELLED
    await parts.worker.handle(await deliver(parts, max_wait=2))
    assert behaviour.calls == [1], "the copy of a cancelled job is a no-op"


async def test_an_attempts_error_is_kept_when_the_next_attempt_starts_before_its_settling(
    parts: Parts,
) -> None:
    """A retry's message is sent before the job is marked retrying (a crash between the two
    leaves a redelivery, not a lost job), so with a short backoff the next attempt can
    start first. Neither attempt's error may be lost: each is added to the errors as
    stored, not as the run read them."""
    job = await submit(parts)
    now = datetime.now(UTC)

    async def start(attempt: int, holder: str) -> Job:
        current = await parts.status.get("t1", job.job_id)
        lease = {"lease_until": now + timedelta(minutes=1), "lease_holder": holder}
        running = current.moved_to(JobState.RUNNING, attempt=attempt, **lease)
        return await parts.status.replace(running)

    first = await start(1, "one")
    second = await start(2, "two")  # its message came before the first run settled
    settler = parts.worker._settler()
    counted: list[str] = []
    settler.metrics.finished = lambda job_type, outcome, *rest: counted.append(outcome)  # type: ignore[method-assign]
    msg = JobMessage(job.job_id, "t1", 1, job.trace_id)
    await settler.failed(first, msg, TransientJobError("first"), 0.1)
    stored = await parts.status.get("t1", job.job_id)
    assert (stored.state, stored.attempt) == (JobState.RUNNING, 2), "attempt 2 goes on"
    assert [e.attempt for e in stored.errors] == [1], "attempt 1's failure is recorded"
    assert counted == ["retried"], "attempt 1 was retried, whoever wrote first"

    await settler.failed(second, msg, TransientJobError("second"), 0.1)  # read errors: []
    done = await parts.status.get("t1", job.job_id)
    assert done.state is JobState.RETRYING
    assert [(e.attempt, e.message) for e in done.errors] == [(1, "first"), (2, "second")]
