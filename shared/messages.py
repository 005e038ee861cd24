"""The queue message that carries a job to a worker, and its decoding."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.constants import (
    PROP_ATTEMPT,
    PROP_DIAGNOSTIC_ID,
    PROP_JOB_ID,
    PROP_TENANT_ID,
    PROP_TRACEPARENT,
)
from shared.errors import ValidationFailed
from shared.ports import OutgoingMessage
from shared.telemetry import current_traceparent


@dataclass(frozen=True)
class JobMessage:
    """'Run attempt ``attempt`` of job ``job_id``.' The job itself lives in the status store."""

    job_id: str
    tenant_id: str
    attempt: int
    trace_id: str = ""
    #: The W3C trace context the message arrived with (its producer span), if any.
    traceparent: str = ""

    @property
    def message_id(self) -> str:
        # One message id per attempt: duplicate detection drops a resend of the same
        # attempt, while a retry (attempt + 1) is a new message.
        return f"{self.job_id}.{self.attempt}"

    def lease_copy_id(self, lease_until: datetime) -> str:
        """The message id of this attempt's copy that waits for a lease ending at
        ``lease_until``: every delivery that finds the same lease makes the same id, so
        duplicate detection keeps one copy."""
        return f"{self.message_id}.lease-{round(lease_until.timestamp() * 1000)}"

    def outgoing(
        self, scheduled_at: datetime | None = None, *, message_id: str | None = None
    ) -> OutgoingMessage:
        """The message to send; ``message_id`` overrides the attempt's own id (a copy of
        an attempt sent again on purpose, which duplicate detection must not drop)."""
        props: dict[str, str | int] = {
            PROP_JOB_ID: self.job_id,
            PROP_TENANT_ID: self.tenant_id,
            PROP_ATTEMPT: self.attempt,
        }
        if self.trace_id:
            # The active span (the enqueue) when it is in the job's trace; else a
            # context in that trace, so the next attempt still joins it.
            parent = current_traceparent()
            if parent is None or parent.split("-")[1] != self.trace_id:
                parent = f"00-{self.trace_id}-{secrets.token_hex(8)}-01"
            props[PROP_TRACEPARENT] = props[PROP_DIAGNOSTIC_ID] = parent
        body = json.dumps(
            {"job_id": self.job_id, "tenant_id": self.tenant_id, "attempt": self.attempt}
        ).encode()
        return OutgoingMessage(
            message_id=message_id or self.message_id,
            body=body,
            application_properties=props,
            scheduled_enqueue_time=scheduled_at,
        )

    @classmethod
    def decode(cls, body: bytes, properties: dict[str, Any] | None = None) -> JobMessage:
        """Parse a message body, or ValidationFailed saying what is wrong with it."""
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValidationFailed(f"message body is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ValidationFailed("message body is not a JSON object")
        job_id, tenant_id, attempt = data.get("job_id"), data.get("tenant_id"), data.get("attempt")
        if not isinstance(job_id, str) or not job_id:
            raise ValidationFailed("message has no job_id")
        if not isinstance(tenant_id, str) or not tenant_id:
            raise ValidationFailed("message has no tenant_id")
        if not isinstance(attempt, int) or isinstance(attempt, bool) or attempt < 1:
            raise ValidationFailed("message has no valid attempt number")
        props = properties or {}
        traceparent = props.get(PROP_TRACEPARENT) or props.get(PROP_DIAGNOSTIC_ID) or ""
        if isinstance(traceparent, bytes):  # the Functions host may hand over bytes
            traceparent = traceparent.decode(errors="replace")
        parts = str(traceparent).split("-")
        valid = len(parts) == 4 and len(parts[1]) == 32 and len(parts[2]) == 16
        return cls(
            job_id=job_id,
            tenant_id=tenant_id,
            attempt=attempt,
            trace_id=parts[1] if valid else "",
            traceparent=str(traceparent) if valid else "",
        )


@dataclass(frozen=True)
class Delivery:
    """A job message as a trigger received it."""

    message: JobMessage
    message_id: str
    delivery_count: int
