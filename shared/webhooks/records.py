"""What a job keeps of its completion webhook: the delivery of its end event, and the
last attempts at it (capped, as its log lines are).

The job's terminal write itself records the delivery ``pending`` (:func:`pending`, called
from :meth:`shared.jobs.Job.moved_to`), so the intent to deliver is stored in the same
conditional write that ends the job; shared/webhooks/service.py carries it out.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

#: Attempts a job keeps on its record (the oldest dropped first); ``attempts_made``
#: counts them all.
MAX_KEPT_ATTEMPTS = 10
#: Longest error text an attempt keeps.
MAX_ATTEMPT_ERROR_CHARS = 200


class DeliveryState(StrEnum):
    #: Not delivered yet: an attempt is due (``next_attempt_at``) or under way.
    PENDING = "pending"
    #: A 2xx answer came back.
    DELIVERED = "delivered"
    #: Every attempt failed (``DTQ_WEBHOOK_MAX_ATTEMPTS``); no more are made.
    GAVE_UP = "gave_up"


class DeliveryAttempt(BaseModel):
    """One POST to the callback URL."""

    model_config = ConfigDict(frozen=True)

    attempt: int
    at: datetime
    #: How long it took, from the name look-up to the answer's status line.
    duration_ms: int
    #: The answer's status (None: no answer: refused target, connection error, timeout).
    status_code: int | None = None
    error: str | None = None


class WebhookDelivery(BaseModel):
    """The delivery of one end event of a job to its ``callback_url``."""

    model_config = ConfigDict(frozen=True)

    #: The ``webhook-id`` header: the same for every attempt at this event, another for
    #: the next end of the job (after a requeue), so receivers can deduplicate.
    event_id: str
    #: ``job.completed``, ``job.failed`` or ``job.cancelled``.
    event_type: str
    state: DeliveryState = DeliveryState.PENDING
    attempts_made: int = 0
    next_attempt_at: datetime | None = None
    #: The last MAX_KEPT_ATTEMPTS attempts, oldest first.
    attempts: list[DeliveryAttempt] = Field(default_factory=list)
    #: The event every attempt POSTs (``type``, ``timestamp``, ``data``), as the job was
    #: when it ended: taken in the write that ends it (shared/webhooks/outbox.py), so a
    #: requeue meanwhile changes no attempt's body.
    event: dict[str, Any] | None = None

    def after(
        self, attempt: DeliveryAttempt, state: DeliveryState, next_at: datetime | None
    ) -> WebhookDelivery:
        """This delivery with ``attempt`` recorded, in ``state``."""
        return self.model_copy(
            update={
                "state": state,
                "attempts_made": max(self.attempts_made, attempt.attempt),
                "next_attempt_at": next_at,
                "attempts": [*self.attempts, attempt][-MAX_KEPT_ATTEMPTS:],
            }
        )


def event_id(job_id: str, requeues: int) -> str:
    """The ``webhook-id`` of the job's end after ``requeues`` requeues."""
    return f"evt_{job_id}_{requeues}"


def pending(job_id: str, requeues: int, state: str, at: datetime) -> WebhookDelivery:
    """A delivery of the job's end in ``state``, its first attempt due at once."""
    return WebhookDelivery(
        event_id=event_id(job_id, requeues), event_type=f"job.{state}", next_attempt_at=at
    )
