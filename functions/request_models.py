"""The request bodies the HTTP triggers accept, as pydantic models; the OpenAPI
document's schemas are generated from them (functions/openapi.py)."""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.constants import MAX_ATTEMPTS, MAX_BATCH, MAX_BULK, MAX_SCHEDULE_AHEAD
from shared.jobs import Priority
from shared.submissions import Submission

MAX_DELAY_SECONDS = MAX_SCHEDULE_AHEAD.total_seconds()


class SubmitRequest(BaseModel):
    """Body of ``POST /api/v1/jobs``. Its JSON Schema is the OpenAPI document's, one
    variant per job type (functions/openapi.py)."""

    model_config = ConfigDict(
        extra="forbid",
        # scheduled_at or delay_seconds, not both (refused by SubmissionRules).
        json_schema_extra={
            "not": {
                "required": ["scheduled_at", "delay_seconds"],
                "properties": {
                    "scheduled_at": {"type": "string"},
                    "delay_seconds": {"type": "number"},
                },
            }
        },
    )

    job_type: str = Field(min_length=1, max_length=100)
    payload: dict[str, Any] = Field(default_factory=dict)
    max_attempts: int | None = Field(
        default=None, ge=1, le=MAX_ATTEMPTS, description="Attempts it gets (default: 3)."
    )
    scheduled_at: AwareDatetime | None = Field(
        default=None, description="Start no earlier than this (RFC 3339, with an offset)."
    )
    delay_seconds: float | None = Field(
        default=None,
        ge=0,
        le=MAX_DELAY_SECONDS,
        description="Start no earlier than this many seconds from now.",
    )
    timeout_seconds: float | None = Field(
        default=None, gt=0, description="Longest one attempt may run."
    )
    priority: Priority = Field(
        default=Priority.NORMAL, description="Which queue carries it (docs/priorities.md)."
    )

    def submission(self) -> Submission:
        return Submission(
            self.job_type,
            self.payload,
            max_attempts=self.max_attempts,
            scheduled_at=self.scheduled_at,
            delay_seconds=self.delay_seconds,
            timeout_seconds=self.timeout_seconds,
            priority=self.priority,
        )


class BatchSubmitRequest(BaseModel):
    """Body of ``POST /api/v1/jobs:batch``: each item is validated on its own."""

    model_config = ConfigDict(extra="forbid")

    jobs: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        description="SubmitRequests; each is validated on its own.",
    )


class RequeueRequest(BaseModel):
    """Body of ``POST /api/v1/dlq/{job_id}/requeue`` (optional)."""

    model_config = ConfigDict(extra="forbid")

    max_attempts: int | None = Field(
        default=None, ge=1, le=MAX_ATTEMPTS, description="Attempts this round gets (default: 3)."
    )


class BulkDeadLetterRequest(BaseModel):
    """Body of ``POST /api/v1/dlq/requeue`` and ``POST /api/v1/dlq/purge``."""

    model_config = ConfigDict(extra="forbid")

    job_type: str | None = Field(default=None, description="Only jobs of this type.")
    limit: int = Field(default=100, ge=1, le=MAX_BULK, description="Most jobs to act on.")
    max_attempts: int | None = Field(
        default=None,
        ge=1,
        le=MAX_ATTEMPTS,
        description="Requeue only: attempts this round gets.",
    )
