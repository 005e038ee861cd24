"""The request bodies the HTTP triggers accept, as pydantic models; the OpenAPI
document's schemas are generated from them (functions/openapi.py)."""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.access import TENANT_ID
from shared.constants import MAX_ATTEMPTS, MAX_BATCH, MAX_BULK, MAX_SCHEDULE_AHEAD
from shared.errors import ValidationFailed
from shared.jobs import Priority
from shared.schedules.model import Misfire, Overlap
from shared.schedules.timing import MIN_INTERVAL_SECONDS
from shared.submissions import Submission
from shared.webhooks.targets import MAX_URL_CHARS, check_url

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
    callback_url: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_URL_CHARS,
        json_schema_extra={"format": "uri"},
        description=(
            "An http(s) URL that gets a signed POST when the job ends (Standard Webhooks;"
            " docs/api.md). Default: the tenant's, if it has one."
        ),
    )

    @field_validator("callback_url")
    @classmethod
    def _callback_url(cls, url: str | None) -> str | None:
        """What can be told of the URL alone; the address rules follow at submit
        (they depend on DTQ_WEBHOOK_ALLOW_PRIVATE) and again at each delivery."""
        if url is not None:
            try:
                check_url(url, allow_private=True)
            except ValidationFailed as exc:
                raise ValueError(exc.errors[0].message) from None
        return url

    def submission(self) -> Submission:
        return Submission(
            self.job_type,
            self.payload,
            max_attempts=self.max_attempts,
            scheduled_at=self.scheduled_at,
            delay_seconds=self.delay_seconds,
            timeout_seconds=self.timeout_seconds,
            priority=self.priority,
            callback_url=self.callback_url,
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


class RotateSecretRequest(BaseModel):
    """Body of ``POST /api/v1/webhooks/secret:rotate`` (optional)."""

    model_config = ConfigDict(extra="forbid")

    keep_previous_seconds: float = Field(
        default=86400.0,
        ge=0,
        le=7 * 86400.0,
        description=(
            "How long the replaced secret keeps signing beside the new one, so receivers"
            " can switch without losing a delivery; 0 stops it at once (a leaked secret)."
        ),
    )


class PauseRequest(BaseModel):
    """Body of ``POST /api/v1/pauses``: hold the jobs of one job type or one priority,
    of every tenant (the operator only) or of one (docs/pauses.md)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [{"required": ["job_type"]}, {"required": ["priority"]}],
        },
    )

    job_type: str | None = Field(default=None, min_length=1, max_length=100)
    priority: Priority | None = None
    reason: str = Field(default="", max_length=500, description="Shown with the pause.")
    tenant: str | None = Field(
        default=None,
        pattern=f"^{TENANT_ID.pattern}$",
        description="Hold only this tenant's jobs. A tenant's key pauses its own jobs"
        " whether it names itself or not; only the operator pauses every tenant's (by"
        " leaving this out) or another tenant's.",
    )

    @field_validator("job_type", "priority", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:  # leave it out instead (the schema's oneOf says so)
            raise ValueError("must not be null")
        return value

    @model_validator(mode="after")
    def _one_target(self) -> PauseRequest:
        if (self.job_type is None) == (self.priority is None):
            raise ValueError("give job_type or priority, one of them")
        return self

    def target(self) -> tuple[str, str]:
        """(kind, value): ``("job_type", name)`` or ``("priority", level)``."""
        if self.priority is not None:
            return "priority", self.priority.value
        assert self.job_type is not None
        return "job_type", self.job_type


class JobTemplateRequest(BaseModel):
    """The job each tick of a schedule submits (validated against its job type)."""

    model_config = ConfigDict(extra="forbid")

    job_type: str = Field(min_length=1, max_length=100)
    payload: dict[str, Any] = Field(default_factory=dict)
    priority: Priority = Priority.NORMAL
    max_attempts: int | None = Field(default=None, ge=1, le=MAX_ATTEMPTS)
    timeout_seconds: float | None = Field(default=None, gt=0)


class _ScheduleFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    cron: str | None = Field(
        default=None,
        max_length=200,
        description="5 fields, or 6 with the seconds first (NCRONTAB); docs/schedules.md.",
    )
    interval_seconds: float | None = Field(
        default=None, ge=MIN_INTERVAL_SECONDS, le=366 * 86400, description="Instead of cron."
    )
    timezone: str | None = Field(
        default=None, min_length=1, max_length=64, description="IANA zone the cron is read in."
    )
    start_at: AwareDatetime | None = Field(default=None, description="No tick before this.")
    end_at: AwareDatetime | None = Field(default=None, description="No tick after this.")
    template: JobTemplateRequest | None = None
    misfire: Misfire | None = Field(
        default=None,
        description="After missed ticks: skip them, or run_once for all (docs/schedules.md).",
    )
    overlap: Overlap | None = Field(
        default=None,
        description="allow, or skip a tick while the previous job has not ended.",
    )
    paused: bool | None = None

    def fields(self) -> dict[str, Any]:
        """The fields the caller set (``None`` clears an optional one)."""
        return self.model_dump(exclude_unset=True)


class ScheduleRequest(_ScheduleFields):
    """Body of ``POST /api/v1/schedules``: a cron expression or an interval."""

    name: str = Field(min_length=1, max_length=200)
    timezone: str = Field(default="UTC", min_length=1, max_length=64)
    template: JobTemplateRequest
    misfire: Misfire = Misfire.SKIP
    overlap: Overlap = Overlap.ALLOW
    paused: bool = False

    @model_validator(mode="after")
    def _one_timing(self) -> ScheduleRequest:
        if (self.cron is None) == (self.interval_seconds is None):
            raise ValueError("give cron or interval_seconds (one of them)")
        return self

    def fields(self) -> dict[str, Any]:
        return self.model_dump()


class SchedulePatch(_ScheduleFields):
    """Body of ``PATCH /api/v1/schedules/{id}``: the fields to change (JSON merge: to
    switch from cron to an interval, send ``interval_seconds`` and ``"cron": null``)."""
