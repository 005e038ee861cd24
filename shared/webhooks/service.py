"""Completion webhooks: :class:`Webhooks` delivers a job's end event to its callback URL,
one attempt per webhooks-queue message (the ``deliver_webhook`` function), retries with
backoff, records each attempt on the job, re-sends what a crash may have lost (the
``sweep_webhooks`` timer), and keeps each tenant's signing secret.

What one message means, decided from the stored job (as the job worker decides):

- job gone, no delivery, another event (the job was requeued and ended again), a
  delivery already delivered or given up, or an attempt already made: a no-op;
- otherwise: POST the event, signed. A 2xx answer: ``delivered``. Anything else (a
  refused target, a connection error, a timeout, a 3xx, 4xx or 5xx): the attempt is
  recorded failed and, with attempts left, the next one's message is sent, due after
  the backoff, *before* this one is recorded; past ``max_attempts``: ``gave_up``.

An exception (a store outage) leaves the attempt unrecorded: the host abandons the
message and it comes again, until the queue dead-letters it. Whatever happens to a
message, the outbox row of its delivery stays until the delivery is delivered or given
up, and the sweep re-sends an attempt that is overdue (:meth:`Webhooks.sweep`).

The event body is the job as the live updates show it (no payload, no errors list, no
result; a receiver reads those from the API), under ``type`` and ``timestamp``, taken in
the write that ends the job: the same for every attempt at one event, even after a
requeue. A requeue leaves the delivery of the earlier end going (its messages still
match it); when the job ends again, the new end's delivery replaces it and the earlier
one's remaining attempts become no-ops: it is superseded by the newer news.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from shared.errors import NotFound
from shared.guarded import guarded_update
from shared.jobs import Job, utcnow
from shared.ports import JobQueue, PendingDelivery, StatusStore, WebhookSecrets, WebhookStore
from shared.settings import Settings
from shared.webhooks import signing
from shared.webhooks.client import Outcome, WebhookClient
from shared.webhooks.outbox import OUTBOX_GRACE_SECONDS, WebhookMessage, end_event
from shared.webhooks.records import MAX_ATTEMPT_ERROR_CHARS, DeliveryAttempt, DeliveryState

log = logging.getLogger(__name__)

#: Longest one sweep keeps reading due outbox rows (the timer runs every minute).
SWEEP_BUDGET_SECONDS = 40.0
#: Longest a rotated secret may keep signing.
MAX_OVERLAP_SECONDS = 7 * 86400.0


@dataclass(frozen=True)
class DeliveryPolicy:
    """How many attempts one delivery gets, and the wait after attempt n: a ceiling of
    ``base_seconds * 5**(n-1)`` capped at ``max_seconds``, of which a random half to
    all is waited (jitter that keeps the schedule's shape). The defaults (8 attempts,
    10 s, 10 h) spread them over about a day."""

    max_attempts: int = 8
    base_seconds: float = 10.0
    max_seconds: float = 36000.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        ceiling = min(self.max_seconds, self.base_seconds * 5 ** max(0, attempt - 1))
        return ceiling * (rng or random).uniform(0.5, 1.0)


def event_body(job: Job) -> bytes:
    """The POST body of the job's end event: the one taken when it ended (the same for
    every attempt), or, for a delivery recorded without it, the job's view now."""
    assert job.webhook is not None
    event = job.webhook.event if job.webhook.event is not None else end_event(job)
    return json.dumps(event, separators=(",", ":"), default=str).encode()


def _due(job: Job, message: WebhookMessage) -> bool:
    """Whether ``message`` asks for an attempt the job still waits for."""
    d = job.webhook
    return (
        d is not None
        and bool(job.callback_url)
        and d.event_id == message.event_id
        and d.state is DeliveryState.PENDING
        and message.attempt > d.attempts_made
    )


class Webhooks:
    def __init__(
        self,
        *,
        status: StatusStore,
        store: WebhookStore,
        queue: JobQueue,
        client: WebhookClient,
        policy: DeliveryPolicy,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self.status = status
        self.store = store
        self.queue = queue
        self.client = client
        self.policy = policy
        self.clock = clock
        self.rng = rng

    @classmethod
    def from_settings(
        cls, settings: Settings, status: StatusStore, store: WebhookStore, queue: JobQueue
    ) -> Webhooks:
        return cls(
            status=status,
            store=store,
            queue=queue,
            client=WebhookClient(
                timeout_seconds=settings.webhook_timeout_seconds,
                allow_private=settings.webhook_allow_private,
            ),
            policy=DeliveryPolicy(
                settings.webhook_max_attempts,
                settings.webhook_backoff_base_seconds,
                settings.webhook_backoff_max_seconds,
            ),
        )

    # -- delivering -------------------------------------------------------------------

    async def deliver(self, body: bytes) -> Outcome | None:
        """Make the attempt a webhooks-queue message asks for (see the module's
        docstring); its outcome, or None if it was a no-op. ValidationFailed for a
        message that is not one (the host abandons it; the queue dead-letters it)."""
        message = WebhookMessage.decode(body)
        try:
            job = await self.status.get(message.tenant_id, message.job_id)
        except NotFound:
            return None
        if not _due(job, message) or job.webhook is None or job.callback_url is None:
            return None
        now = self.clock()
        secrets = await self.store.secrets(job.tenant_id, signing.new_secret())
        content = event_body(job)
        headers = signing.headers(
            secrets.signing(now), job.webhook.event_id, int(now.timestamp()), content
        )
        outcome = await self.client.post(job.callback_url, headers, content)
        attempt = DeliveryAttempt(
            attempt=message.attempt,
            at=now,
            duration_ms=outcome.duration_ms,
            status_code=outcome.status_code,
            error=(outcome.error or "")[:MAX_ATTEMPT_ERROR_CHARS] or None,
        )
        next_at: datetime | None = None
        if outcome.delivered:
            state = DeliveryState.DELIVERED
        elif message.attempt >= self.policy.max_attempts:
            state = DeliveryState.GAVE_UP
        else:
            state = DeliveryState.PENDING
            next_at = self.clock() + timedelta(seconds=self.policy.delay(message.attempt, self.rng))
            retry = WebhookMessage(job.tenant_id, job.job_id, message.event_id, message.attempt + 1)
            await self.queue.send([retry.outgoing(scheduled_at=next_at)])
        await self._record(job, message, attempt, state, next_at)
        log.info(
            "job %s webhook attempt %d: %s -> %s",
            job.job_id,
            message.attempt,
            outcome.status_code or outcome.error,
            state.value,
        )
        return outcome

    async def _record(
        self,
        job: Job,
        message: WebhookMessage,
        attempt: DeliveryAttempt,
        state: DeliveryState,
        next_at: datetime | None,
    ) -> None:
        def change(current: Job) -> Job | None:
            if not _due(current, message) or current.webhook is None:
                return None  # recorded by another delivery of this message meanwhile
            return current.model_copy(
                update={"webhook": current.webhook.after(attempt, state, next_at)}
            )

        with contextlib.suppress(NotFound):  # purged meanwhile
            await guarded_update(self.status, job.tenant_id, job.job_id, change, known=job)

    # -- recovering -------------------------------------------------------------------

    async def sweep(self, limit: int = 100, budget_seconds: float = SWEEP_BUDGET_SECONDS) -> int:
        """Look at each delivery the outbox keeps past its due time: drop it once the
        job shows it delivered, given up or replaced (or the job is gone); if the
        attempt it waits for is overdue by a grace period (its message lost, or
        dead-lettered by a store outage), send that attempt's message again; then keep
        the row due a grace period after the next attempt's time. Returns how many it
        sent. Run by a timer: it reads ``limit`` rows at a time until none is due (each
        row it looks at is dropped or moved past now), for at most ``budget_seconds``,
        so a backlog of any size is cleared at the pace the job ends write it."""
        now = self.clock()
        began = time.monotonic()
        sent = 0
        while True:
            batch = await self.store.due(now, limit)
            for pending in batch:
                sent += await self._check(pending, now)
            if len(batch) < limit or time.monotonic() - began > budget_seconds:
                return sent

    async def _check(self, pending: PendingDelivery, now: datetime) -> int:
        try:
            job: Job | None = await self.status.get(pending.tenant_id, pending.job_id)
        except NotFound:
            job = None
        d = job.webhook if job is not None else None
        if (
            job is None
            or d is None
            or not job.callback_url
            or d.event_id != pending.event_id
            or d.state is not DeliveryState.PENDING
        ):
            await self.store.forget(pending)
            return 0
        grace = timedelta(seconds=OUTBOX_GRACE_SECONDS)
        expected = d.next_attempt_at or pending.due_at
        sent = 0
        if expected + grace <= now:
            # The same message id as the lost one: a copy still on its way is dropped
            # by duplicate detection, and _due makes any copy after the first a no-op.
            message = WebhookMessage(job.tenant_id, job.job_id, d.event_id, d.attempts_made + 1)
            await self.queue.send([message.outgoing()])
            sent = 1
            log.warning("job %s: webhook attempt %d re-sent", job.job_id, message.attempt)
            due = now + grace
        else:
            due = expected + grace
        await self.store.track(replace(pending, due_at=due))
        await self.store.forget(pending)
        return sent

    # -- secrets ----------------------------------------------------------------------

    async def secrets(self, tenant_id: str) -> WebhookSecrets:
        """The tenant's signing secrets (made on first use)."""
        return await self.store.secrets(tenant_id, signing.new_secret())

    async def rotate(self, tenant_id: str, keep_previous_seconds: float) -> WebhookSecrets:
        """A new secret for the tenant; the one it replaces keeps signing (beside the
        new one) for ``keep_previous_seconds`` (0: stops at once)."""
        keep = max(0.0, min(keep_previous_seconds, MAX_OVERLAP_SECONDS))
        until = self.clock() + timedelta(seconds=keep)
        return await self.store.rotate(tenant_id, signing.new_secret(), until)

    async def close(self) -> None:
        await self.client.close()
