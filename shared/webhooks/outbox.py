"""How a job's end gets to the webhooks queue, whatever crashes.

:meth:`shared.jobs.Job.moved_to` records the delivery ``pending`` in the very write
that ends the job. :class:`WebhookOutbox`, a StatusStore decorator (as the push's
publisher is one), sees that write go by and

1. takes the event every attempt will POST (:func:`with_event`) into the write, and
   keeps a :class:`~shared.ports.PendingDelivery` in the webhook store, due a
   minute later (:data:`OUTBOX_GRACE_SECONDS`);
2. then lets the write through (if it fails, the outbox row finds a job with nothing
   to deliver and is dropped);
3. then sends the first attempt's message (message id ``<event id>.1``). If the
   process dies before, or the queue refuses it, the sweep (a timer,
   :meth:`shared.webhooks.service.Webhooks.sweep`) finds the row due and the delivery
   still without an attempt, and sends that message itself; duplicate detection and
   the attempt numbers make a second copy a no-op.

Each later attempt's message is sent before the attempt before it is recorded, so a
crash there leaves a message. The row stays until the delivery is delivered or given
up: the sweep moves it a grace period past each next attempt's time and re-sends an
attempt that is that overdue (a message lost, or dead-lettered in a store outage).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.constants import PROP_JOB_ID, PROP_TENANT_ID
from shared.errors import BackendUnavailable, FieldError, TooLarge, ValidationFailed
from shared.job_logs import fitted
from shared.jobs import Job, iso_utc, utcnow
from shared.ports import (
    JobQueue,
    OutgoingMessage,
    PendingDelivery,
    StatusStore,
    WebhookStore,
)
from shared.push import lean_job
from shared.store_decorators import DelegatingStatusStore
from shared.webhooks.records import DeliveryState

log = logging.getLogger(__name__)

#: How long after a job's end the sweep checks that its delivery got under way.
OUTBOX_GRACE_SECONDS = 60.0


@dataclass(frozen=True)
class WebhookMessage:
    """A webhooks-queue message: make attempt ``attempt`` at delivering ``event_id``."""

    tenant_id: str
    job_id: str
    event_id: str
    attempt: int

    def outgoing(self, scheduled_at: datetime | None = None) -> OutgoingMessage:
        body: dict[str, str | int] = {"tenant_id": self.tenant_id, "job_id": self.job_id}
        body.update(event_id=self.event_id, attempt=self.attempt)
        return OutgoingMessage(
            message_id=f"{self.event_id}.{self.attempt}",
            body=json.dumps(body).encode(),
            application_properties={PROP_JOB_ID: self.job_id, PROP_TENANT_ID: self.tenant_id},
            scheduled_enqueue_time=scheduled_at,
        )

    @classmethod
    def decode(cls, body: bytes) -> WebhookMessage:
        try:
            data = json.loads(body)
            message = cls(
                str(data["tenant_id"]), str(data["job_id"]), str(data["event_id"]), data["attempt"]
            )
            if not isinstance(message.attempt, int) or message.attempt < 1:
                raise ValueError("attempt")
        except (ValueError, KeyError, TypeError) as exc:
            raise ValidationFailed(
                "not a webhook message", [FieldError("body", f"unreadable: {exc}")]
            ) from None
        return message


def first_message(job: Job) -> WebhookMessage | None:
    """The first attempt's message if ``job`` is the write that ends it with a delivery
    not yet begun, else None."""
    delivery = job.webhook
    if not job.terminal or delivery is None or not job.callback_url:
        return None
    if delivery.state is not DeliveryState.PENDING or delivery.attempts_made:
        return None
    return WebhookMessage(job.tenant_id, job.job_id, delivery.event_id, 1)


def end_event(job: Job) -> dict[str, Any]:
    """The event of the job's end: the job as the live updates show it (no payload, no
    list of errors, no result), under ``type`` and ``timestamp``."""
    assert job.webhook is not None
    data = {k: v for k, v in lean_job(job).items() if k not in ("webhook", "callback_url")}
    at = iso_utc(job.finished_at or job.updated_at)
    return {"type": job.webhook.event_type, "timestamp": at, "data": data}


def with_event(job: Job) -> Job:
    """The write that ends ``job`` with its delivery's event taken (a few KB at most: the
    cut texts of shared/push.py), its oldest log lines dropped if the row would no
    longer fit (shared/job_logs.py)."""
    if job.webhook is None or job.webhook.event is not None:
        return job
    delivery = job.webhook.model_copy(update={"event": end_event(job)})
    return fitted(job.model_copy(update={"webhook": delivery}))


class WebhookOutbox(DelegatingStatusStore):
    """A StatusStore that starts the delivery of each job end it writes (see above)."""

    def __init__(
        self,
        inner: StatusStore,
        store: WebhookStore,
        queue: JobQueue,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(inner)
        self.store = store
        self.queue = queue
        self.clock = clock

    async def replace(self, job: Job) -> Job:
        first = first_message(job)
        if first is None:
            return await self.inner.replace(job)
        job = with_event(job)
        due = self.clock() + timedelta(seconds=OUTBOX_GRACE_SECONDS)
        await self.store.track(PendingDelivery(job.tenant_id, job.job_id, first.event_id, due))
        stored = await self.inner.replace(job)
        try:
            await self.queue.send([first.outgoing()])
        except (BackendUnavailable, TooLarge, OSError) as exc:
            log.warning("job %s: webhook not enqueued, the sweep will (%s)", job.job_id, exc)
        return stored

    async def close(self) -> None:
        await self.inner.close()
        await self.store.close()
        await self.queue.close()
