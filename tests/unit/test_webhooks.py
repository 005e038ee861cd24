"""Completion webhooks' core (shared/webhooks/): Standard Webhooks signatures, and one
delivery from a job's end to its last attempt, on the embedded stores with a receiver
that answers what each test says."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import standardwebhooks

from shared.adapters.sqlite import Database, SqliteJobQueue, SqliteStatusStore
from shared.adapters.sqlite.webhooks import SqliteWebhookStore
from shared.errors import BackendUnavailable
from shared.jobs import Job, JobState
from shared.ports import WebhookSecrets
from shared.webhooks import signing
from shared.webhooks.client import Outcome
from shared.webhooks.outbox import WebhookMessage, WebhookOutbox
from shared.webhooks.records import MAX_KEPT_ATTEMPTS, DeliveryState
from shared.webhooks.service import DeliveryPolicy, Webhooks

# -- signatures ------------------------------------------------------------------------

#: The example of the Standard Webhooks reference libraries' tests (svix/standard-webhooks).
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID, SPEC_TIMESTAMP = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_signature_of_the_reference_example() -> None:
    assert signing.signature(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_the_standardwebhooks_library_verifies_what_dtq_signs() -> None:
    secret, body, now = signing.new_secret(), b'{"type":"job.completed"}', datetime.now(UTC)
    headers = signing.headers([secret], "evt_1_0", int(now.timestamp()), body)
    assert standardwebhooks.Webhook(secret).verify(body, headers) == {"type": "job.completed"}
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(signing.new_secret()).verify(body, headers)
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(secret).verify(body + b" ", headers)


def test_while_a_rotated_secret_still_signs_either_secret_verifies() -> None:
    old, new, now = signing.new_secret(), signing.new_secret(), datetime.now(UTC)
    secrets = WebhookSecrets("t", new, old, now + timedelta(hours=1))
    assert secrets.signing(now) == [new, old]
    assert secrets.signing(now + timedelta(hours=2)) == [new]
    headers = signing.headers(secrets.signing(now), "evt_1_0", int(now.timestamp()), b"{}")
    assert len(headers["webhook-signature"].split()) == 2
    for secret in (old, new):
        standardwebhooks.Webhook(secret).verify(b"{}", headers)
        assert signing.verify(secret, headers, b"{}")
    assert not signing.verify(signing.new_secret(), headers, b"{}")


def test_a_new_secret_is_whsec_and_32_random_bytes() -> None:
    secret = signing.new_secret()
    assert secret.startswith("whsec_") and len(signing.secret_bytes(secret)) == 32
    assert secret != signing.new_secret()


# -- delivery ----------------------------------------------------------------------------


@dataclass
class Receiver:
    """Stands in for the HTTP client: answers each POST with the next status (0: a
    connection error) and keeps what it was sent."""

    answers: list[int] = field(default_factory=list)
    received: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)

    async def post(self, url: str, headers: dict[str, str], body: bytes) -> Outcome:
        self.received.append((url, headers, body))
        code = self.answers.pop(0) if self.answers else 200
        return Outcome(3, None, "ConnectError: refused") if code == 0 else Outcome(3, code)

    async def close(self) -> None:
        return None


@dataclass
class Parts:
    status: WebhookOutbox
    queue: SqliteJobQueue
    store: SqliteWebhookStore
    webhooks: Webhooks
    receiver: Receiver


@pytest.fixture
async def parts(tmp_path: Path) -> AsyncIterator[Parts]:
    db = Database(tmp_path / "w.sqlite3")
    queue = SqliteJobQueue(db, "dtq-webhooks")
    store = SqliteWebhookStore(db)
    status = WebhookOutbox(SqliteStatusStore(db), store, queue)
    receiver = Receiver()
    webhooks = Webhooks(
        status=status,
        store=store,
        queue=queue,
        client=receiver,  # type: ignore[arg-type]
        policy=DeliveryPolicy(max_attempts=3, base_seconds=10, max_seconds=100),
        rng=random.Random(7),
    )
    yield Parts(status, queue, store, webhooks, receiver)
    db.close()


async def ended(parts: Parts, state: JobState = JobState.COMPLETED, **extra: object) -> Job:
    job = Job.new(
        tenant_id="acme",
        job_type="echo",
        payload={"message": "hi"},
        max_attempts=3,
        callback_url="https://hooks.example.com/dtq",
    )
    job = await parts.status.create(job)
    job = await parts.status.replace(job.moved_to(JobState.RUNNING, attempt=1))
    return await parts.status.replace(job.moved_to(state, **extra))  # type: ignore[arg-type]


async def next_message(parts: Parts) -> bytes:
    [message] = await parts.queue.receive(1, max_wait=0.5)
    await parts.queue.complete(message)
    return message.body


async def test_the_write_that_ends_a_job_records_the_delivery_and_enqueues_it(
    parts: Parts,
) -> None:
    job = await ended(parts)
    assert job.webhook is not None and job.webhook.state is DeliveryState.PENDING
    assert job.webhook.event_type == "job.completed"
    [message] = await parts.queue.receive(1, max_wait=0.5)
    assert message.message_id == f"{job.webhook.event_id}.1"
    assert len(await parts.store.due(datetime.now(UTC) + timedelta(minutes=2), 10)) == 1


async def test_a_delivery_is_signed_with_the_tenants_secret(parts: Parts) -> None:
    job = await ended(parts, JobState.FAILED)
    outcome = await parts.webhooks.deliver(await next_message(parts))
    assert outcome is not None and outcome.delivered
    [(url, headers, body)] = parts.receiver.received
    assert url == "https://hooks.example.com/dtq"
    secret = (await parts.webhooks.secrets("acme")).current
    event = standardwebhooks.Webhook(secret).verify(body, headers)
    assert event["type"] == "job.failed" and event["data"]["job_id"] == job.job_id
    assert "payload" not in event["data"] and "webhook" not in event["data"]
    assert headers["webhook-id"] == f"evt_{job.job_id}_0"
    stored = await parts.status.get("acme", job.job_id)
    assert stored.webhook is not None and stored.webhook.state is DeliveryState.DELIVERED
    [attempt] = stored.webhook.attempts
    assert (attempt.attempt, attempt.status_code, attempt.duration_ms) == (1, 200, 3)


async def test_failed_attempts_are_retried_with_backoff_then_delivered(parts: Parts) -> None:
    job = await ended(parts)
    parts.receiver.answers = [500, 0, 204]
    before = datetime.now(UTC)
    await parts.webhooks.deliver(await next_message(parts))
    stored = await parts.status.get("acme", job.job_id)
    assert stored.webhook is not None and stored.webhook.state is DeliveryState.PENDING
    due = stored.webhook.next_attempt_at
    assert due is not None and 5 <= (due - before).total_seconds() <= 11  # half to all of 10 s
    assert await parts.queue.receive(1, max_wait=0.1) == [], "the retry waits for its time"
    assert (await parts.queue.depth()).scheduled == 1, "attempt 2 is sent, due then"
    second = WebhookMessage("acme", job.job_id, stored.webhook.event_id, 2)
    await parts.webhooks.deliver(second.outgoing().body)
    third = WebhookMessage("acme", job.job_id, stored.webhook.event_id, 3)
    await parts.webhooks.deliver(third.outgoing().body)
    stored = await parts.status.get("acme", job.job_id)
    assert stored.webhook is not None and stored.webhook.state is DeliveryState.DELIVERED
    assert [(a.attempt, a.status_code, a.error) for a in stored.webhook.attempts] == [
        (1, 500, None),
        (2, None, "ConnectError: refused"),
        (3, 204, None),
    ]
    ids = {h["webhook-id"] for _, h, _ in parts.receiver.received}
    assert ids == {stored.webhook.event_id}, "one webhook-id for every attempt at one event"


async def test_after_the_last_attempt_the_delivery_is_given_up(parts: Parts) -> None:
    job = await ended(parts, JobState.CANCELLED)
    parts.receiver.answers = [500, 302, 404]
    event = f"evt_{job.job_id}_0"
    for n in (1, 2, 3):
        await parts.webhooks.deliver(WebhookMessage("acme", job.job_id, event, n).outgoing().body)
    stored = await parts.status.get("acme", job.job_id)
    assert stored.webhook is not None and stored.webhook.state is DeliveryState.GAVE_UP
    assert stored.webhook.attempts_made == 3 and stored.webhook.next_attempt_at is None
    assert len(parts.receiver.received) == 3
    again = WebhookMessage("acme", job.job_id, event, 4).outgoing().body
    assert await parts.webhooks.deliver(again) is None, "nothing after giving up"


async def test_a_repeated_or_stale_message_is_a_no_op(parts: Parts) -> None:
    job = await ended(parts)
    parts.receiver.answers = [500]
    first = await next_message(parts)
    await parts.webhooks.deliver(first)
    assert await parts.webhooks.deliver(first) is None, "attempt 1 was made"
    other = WebhookMessage("acme", job.job_id, f"evt_{job.job_id}_9", 2).outgoing().body
    assert await parts.webhooks.deliver(other) is None, "another end of the job"
    gone = WebhookMessage("acme", "nojob", "evt_nojob_0", 1).outgoing().body
    assert await parts.webhooks.deliver(gone) is None
    assert len(parts.receiver.received) == 1


async def test_a_requeued_job_that_ends_again_is_a_new_event(parts: Parts) -> None:
    job = await ended(parts, JobState.FAILED)
    again = job.moved_to(JobState.QUEUED, requeues=job.requeues + 1)
    again = await parts.status.replace(again.moved_to(JobState.RUNNING, attempt=1))
    again = await parts.status.replace(again.moved_to(JobState.COMPLETED))
    assert job.webhook is not None and again.webhook is not None
    assert (job.webhook.event_id, again.webhook.event_id) == (
        f"evt_{job.job_id}_0",
        f"evt_{job.job_id}_1",
    )


async def test_every_attempt_sends_the_end_as_it_was_even_after_a_requeue(
    parts: Parts,
) -> None:
    job = await ended(parts, JobState.FAILED)
    parts.receiver.answers = [500, 204]
    await parts.webhooks.deliver(await next_message(parts))
    job = await parts.status.get("acme", job.job_id)
    await parts.status.replace(job.moved_to(JobState.QUEUED, requeues=job.requeues + 1))
    second = WebhookMessage("acme", job.job_id, f"evt_{job.job_id}_0", 2).outgoing().body
    outcome = await parts.webhooks.deliver(second)
    assert outcome is not None and outcome.delivered, "the earlier end's delivery goes on"
    first_body, second_body = (body for _, _, body in parts.receiver.received)
    assert second_body == first_body, "the same body for every attempt at one end"
    event = json.loads(second_body)
    assert (event["type"], event["data"]["state"]) == ("job.failed", "failed")


class DownQueue:
    """A queue that refuses every send (as if the process died before it)."""

    async def send(self, messages: object) -> None:
        raise BackendUnavailable("the queue is down")


async def test_the_sweep_sends_a_first_attempt_a_crash_lost(parts: Parts) -> None:
    queue, parts.status.queue = parts.status.queue, DownQueue()  # type: ignore[assignment]
    job = await ended(parts)
    parts.status.queue = queue
    assert await parts.queue.receive(1, max_wait=0.1) == [], "never sent"
    parts.webhooks.clock = lambda: datetime.now(UTC) + timedelta(seconds=30)
    assert await parts.webhooks.sweep() == 0, "not due yet"
    parts.webhooks.clock = lambda: datetime.now(UTC) + timedelta(minutes=2)
    assert await parts.webhooks.sweep() == 1
    assert await parts.store.due(datetime.now(UTC) + timedelta(minutes=2), 10) == []
    await parts.webhooks.deliver(await next_message(parts))
    stored = await parts.status.get("acme", job.job_id)
    assert stored.webhook is not None and stored.webhook.state is DeliveryState.DELIVERED
    assert await parts.webhooks.sweep() == 0, "a delivery under way is left alone"


async def test_one_sweep_clears_a_backlog_larger_than_its_page(parts: Parts) -> None:
    queue, parts.status.queue = parts.status.queue, DownQueue()  # type: ignore[assignment]
    for _ in range(150):
        await ended(parts)
    parts.status.queue = queue
    parts.webhooks.clock = later(120)
    assert await parts.webhooks.sweep() == 150
    assert await parts.store.due(datetime.now(UTC) + timedelta(seconds=120), 1) == []


def later(seconds: float) -> Callable[[], datetime]:
    return lambda: datetime.now(UTC) + timedelta(seconds=seconds)


async def test_the_sweep_leaves_a_delivery_under_way_alone(parts: Parts) -> None:
    await ended(parts)
    parts.receiver.answers = [500]
    await parts.webhooks.deliver(await next_message(parts))  # attempt 2 due in 5 to 10 s
    parts.webhooks.clock = later(62)
    assert await parts.webhooks.sweep() == 0, "attempt 2 is not overdue"
    assert await parts.store.due(datetime.now(UTC) + timedelta(seconds=62), 10) == []
    kept = await parts.store.due(datetime.now(UTC) + timedelta(seconds=71), 10)
    assert len(kept) == 1, "kept, due a grace period after attempt 2's time"


class LostQueue:
    """A queue whose sends go nowhere (a message lost, or dead-lettered unread)."""

    async def send(self, messages: object) -> None:
        return None


async def test_the_sweep_recovers_a_later_attempt_whose_message_was_lost(parts: Parts) -> None:
    job = await ended(parts)
    parts.receiver.answers = [500]
    parts.webhooks.queue = LostQueue()  # type: ignore[assignment]
    await parts.webhooks.deliver(await next_message(parts))
    parts.webhooks.queue = parts.queue
    parts.webhooks.clock = later(120)
    assert await parts.webhooks.sweep() == 1, "attempt 2 re-sent"
    resent = await next_message(parts)
    assert WebhookMessage.decode(resent).attempt == 2
    outcome = await parts.webhooks.deliver(resent)
    assert outcome is not None and outcome.delivered
    assert await parts.webhooks.deliver(resent) is None, "a second copy records nothing"
    stored = await parts.status.get("acme", job.job_id)
    assert stored.webhook is not None and stored.webhook.state is DeliveryState.DELIVERED
    assert [a.attempt for a in stored.webhook.attempts] == [1, 2]
    parts.webhooks.clock = later(600)
    assert await parts.webhooks.sweep() == 0
    assert await parts.store.due(datetime.now(UTC) + timedelta(days=1), 10) == [], "done: dropped"


async def test_a_delivery_the_store_could_not_record_is_recovered(parts: Parts) -> None:
    parts.queue.duplicate_detection_window = 0  # as once its 10 minutes have passed
    job = await ended(parts)
    down = BackendUnavailable("the store is down")
    store, parts.webhooks.store = parts.webhooks.store, DownStore(down)  # type: ignore[assignment]
    message = await next_message(parts)
    for _ in range(3):  # the host abandons the message each time; then it is dead-lettered
        with pytest.raises(BackendUnavailable):
            await parts.webhooks.deliver(message)
    parts.webhooks.store = store
    parts.webhooks.clock = later(120)
    assert await parts.webhooks.sweep() == 1
    await parts.webhooks.deliver(await next_message(parts))
    stored = await parts.status.get("acme", job.job_id)
    assert stored.webhook is not None and stored.webhook.state is DeliveryState.DELIVERED


class DownStore:
    def __init__(self, error: Exception) -> None:
        self.error = error

    async def secrets(self, *args: object) -> None:
        raise self.error


async def test_a_job_keeps_its_last_attempts_only(parts: Parts) -> None:
    job = await ended(parts)
    parts.webhooks.policy = DeliveryPolicy(max_attempts=30, base_seconds=0)
    parts.receiver.answers = [503] * (MAX_KEPT_ATTEMPTS + 2)
    for n in range(1, MAX_KEPT_ATTEMPTS + 3):
        body = WebhookMessage("acme", job.job_id, f"evt_{job.job_id}_0", n).outgoing().body
        await parts.webhooks.deliver(body)
    stored = await parts.status.get("acme", job.job_id)
    assert stored.webhook is not None and stored.webhook.attempts_made == MAX_KEPT_ATTEMPTS + 2
    assert [a.attempt for a in stored.webhook.attempts] == list(range(3, MAX_KEPT_ATTEMPTS + 3))


def test_the_backoff_grows_fivefold_capped_with_jitter() -> None:
    policy = DeliveryPolicy(max_attempts=8, base_seconds=10, max_seconds=36000)
    rng = random.Random(1)
    for attempt, ceiling in [(1, 10), (2, 50), (3, 250), (4, 1250), (6, 31250), (7, 36000)]:
        delays = [policy.delay(attempt, rng) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert max(delays) - min(delays) > ceiling / 10, "jittered"
    total = sum(DeliveryPolicy().delay(n, random.Random(n)) for n in range(1, 8))
    assert 8 * 3600 < total < 30 * 3600, "the defaults spread 8 attempts over about a day"


async def test_secrets_are_per_tenant_and_a_rotation_keeps_the_old_one_signing(
    parts: Parts,
) -> None:
    first = await parts.webhooks.secrets("acme")
    assert (await parts.webhooks.secrets("acme")) == first, "made once, then kept"
    assert (await parts.webhooks.secrets("other")).current != first.current
    rotated = await parts.webhooks.rotate("acme", 3600)
    assert rotated.current != first.current and rotated.previous == first.current
    assert rotated.signing(datetime.now(UTC)) == [rotated.current, first.current]
    at_once = await parts.webhooks.rotate("acme", 0)
    assert at_once.signing(datetime.now(UTC)) == [at_once.current]


async def test_a_message_that_is_not_one_is_refused(parts: Parts) -> None:
    from shared.errors import ValidationFailed

    for body in (b"{", b"[]", json.dumps({"tenant_id": "a"}).encode()):
        with pytest.raises(ValidationFailed):
            await parts.webhooks.deliver(body)


def test_the_backoff_cap_stays_inside_the_webhooks_queues_message_ttl() -> None:
    from pydantic import ValidationError

    from shared.settings import Settings

    assert Settings(webhook_backoff_max_seconds=86400).webhook_backoff_max_seconds == 86400
    with pytest.raises(ValidationError, match="webhook_backoff_max_seconds"):
        Settings(webhook_backoff_max_seconds=2 * 86400)  # the queue's TTL (P2D in Bicep)
