"""The Job record and its state machine.

A job is data: the services change it through :meth:`Job.moved_to`, the only
place that knows which state changes are legal. Stores persist it; nothing here
knows how.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.constants import MAX_ERROR_CHARS, MAX_STAGE_CHARS
from shared.errors import IllegalTransition
from shared.job_ids import new_job_id
from shared.job_logs import MAX_LOG_LINES, LogLine, fitted, log_line
from shared.webhooks.records import WebhookDelivery, pending


class JobState(StrEnum):
    #: Accepted and waiting in the queue for a worker.
    QUEUED = "queued"
    #: Accepted with a start time in the future; becomes runnable when due.
    SCHEDULED = "scheduled"
    #: A worker holds its message and runs the handler.
    RUNNING = "running"
    #: An attempt failed with a retryable error; the next attempt is scheduled.
    RETRYING = "retrying"
    #: The handler returned; its result is stored.
    COMPLETED = "completed"
    #: Failed permanently or ran out of attempts.
    FAILED = "failed"
    #: Cancelled by a user before it finished.
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES


class Priority(StrEnum):
    """Which queue carries a job (see :mod:`shared.priorities`)."""

    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


TERMINAL_STATES = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED})

#: Every legal state change. ``running -> running`` is a delivery taking over an
#: attempt whose lease lapsed (its run died or lost touch with the status store).
TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    # -> failed: the queue dead-lettered the job's message before any attempt settled.
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.CANCELLED, JobState.FAILED}),
    JobState.SCHEDULED: frozenset(
        {JobState.QUEUED, JobState.RUNNING, JobState.CANCELLED, JobState.FAILED}
    ),
    # -> scheduled: the attempt was given back unspent (JobDeferred), to run when due.
    JobState.RUNNING: frozenset(
        {
            JobState.RUNNING,
            JobState.SCHEDULED,
            JobState.COMPLETED,
            JobState.FAILED,
            JobState.RETRYING,
            JobState.CANCELLED,
        }
    ),
    JobState.RETRYING: frozenset({JobState.RUNNING, JobState.CANCELLED, JobState.FAILED}),
    JobState.COMPLETED: frozenset(),
    #: Only a requeue from the dead-letter queue brings a failed job back.
    JobState.FAILED: frozenset({JobState.QUEUED}),
    JobState.CANCELLED: frozenset(),
}


def lease_timing(
    lock_seconds: float, lease_seconds: float | None = None, renew_seconds: float | None = None
) -> tuple[float, float]:
    """(lease duration, renew interval) of a running attempt's lease, in seconds.

    Unless set, the lease lasts two of the queue's lock durations and is renewed every
    quarter of it, so a run survives three missed renewals before another delivery may
    take its attempt over.
    """
    lease = lease_seconds or 2 * lock_seconds
    renew = renew_seconds or lease / 4
    if renew >= lease:
        raise ValueError(f"the lease renew interval ({renew:g}s) must be below its duration")
    return lease, renew


def iso_utc(at: datetime) -> str:
    """``at`` in ISO 8601 UTC ending in ``Z``, the form of every time the API gives (as
    the jobs' own timestamps serialise)."""
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_trace_id() -> str:
    """A W3C trace id (32 hex digits), random as the spec asks."""
    return secrets.token_hex(16)


class JobError(BaseModel):
    """What went wrong in one attempt."""

    model_config = ConfigDict(frozen=True)

    type: str
    message: str
    retryable: bool
    attempt: int
    at: datetime


class DeadLetter(BaseModel):
    """Why a failed job is in the dead-letter queue."""

    model_config = ConfigDict(frozen=True)

    #: ``MaxAttemptsExceeded``, ``PermanentFailure``, ``UnknownJobType``, ``InvalidPayload``...
    reason: str
    description: str
    at: datetime


class Job(BaseModel):
    """One unit of work and everything a reader needs to know about it."""

    model_config = ConfigDict(frozen=True)

    job_id: str
    tenant_id: str
    job_type: str
    payload: dict[str, Any]
    #: ``high``, ``normal`` or ``low``: which queue carries it.
    priority: Priority = Priority.NORMAL
    state: JobState = JobState.QUEUED
    progress: int = Field(default=0, ge=0, le=100)
    stage: str = ""
    #: Attempts started so far (0 until a worker first picks the job up).
    attempt: int = 0
    max_attempts: int = Field(default=3, ge=1)
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    #: When the next attempt becomes due (scheduled and retrying jobs).
    next_attempt_at: datetime | None = None
    trace_id: str
    #: The last attempt's error; ``errors`` keeps every attempt's.
    error: JobError | None = None
    errors: list[JobError] = Field(default_factory=list)
    #: How many times the current attempt's message was delivered.
    delivery_count: int = 0
    #: Set when the job failed for good: it is then in the dead-letter queue.
    dead_letter: DeadLetter | None = None
    #: Times the job was requeued from the dead-letter queue.
    requeues: int = 0
    #: Longest one attempt may run, in seconds (None: the deployment's limit).
    timeout_seconds: float | None = None
    #: Set when a user cancels the job while it runs; the worker stops it cooperatively.
    cancel_requested_at: datetime | None = None
    #: While running: when the running attempt's lease ends unless its run renews it.
    #: Another delivery of the attempt takes it over only after that (shared/worker.py).
    lease_until: datetime | None = None
    #: While running: a random token naming the run that holds the lease.
    lease_holder: str | None = None
    #: The last lines its handlers logged (``ctx.log``), oldest first, across attempts
    #: and requeues (shared/job_logs.py); not in the public body: GET .../logs reads them.
    logs: list[LogLine] = Field(default_factory=list)
    #: Where its end is POSTed (shared/webhooks/), and that delivery once it ended.
    callback_url: str | None = None
    webhook: WebhookDelivery | None = None
    #: Opaque concurrency token of the stored version; set by the store.
    etag: str | None = Field(default=None, exclude=True)

    @classmethod
    def new(
        cls,
        *,
        tenant_id: str,
        job_type: str,
        payload: dict[str, Any],
        max_attempts: int,
        now: datetime | None = None,
        run_at: datetime | None = None,
        timeout_seconds: float | None = None,
        priority: Priority = Priority.NORMAL,
        trace_id: str | None = None,
        callback_url: str | None = None,
    ) -> Job:
        """A new job: ``queued``, or ``scheduled`` when ``run_at`` is in the future.
        ``trace_id``: the trace it belongs to (its submit request's), else a new one."""
        at = now or utcnow()
        later = run_at is not None and run_at > at
        return cls(
            job_id=new_job_id(),
            tenant_id=tenant_id,
            job_type=job_type,
            payload=payload,
            priority=priority,
            state=JobState.SCHEDULED if later else JobState.QUEUED,
            next_attempt_at=run_at if later else None,
            max_attempts=max_attempts,
            timeout_seconds=timeout_seconds,
            created_at=at,
            updated_at=at,
            trace_id=trace_id or new_trace_id(),
            callback_url=callback_url,
        )

    @property
    def terminal(self) -> bool:
        return self.state.terminal

    def moved_to(self, target: JobState, *, now: datetime | None = None, **changes: Any) -> Job:
        """This job in state ``target``, or :class:`IllegalTransition`.

        The single gate of the state machine: every state change goes through it.
        """
        if target not in TRANSITIONS[self.state]:
            raise IllegalTransition(self.state.value, target.value)
        at = now or utcnow()
        extra: dict[str, Any] = {"state": target, "updated_at": at}
        if target.terminal:
            extra["finished_at"] = at
            extra["next_attempt_at"] = None
            if self.callback_url:  # the intent to deliver, in the write that ends it
                extra["webhook"] = pending(self.job_id, self.requeues, target.value, at)
        elif self.state.terminal:  # requeued: it runs again; its log says so
            extra.update(finished_at=None, dead_letter=None, error=None, progress=0)
            extra["logs"] = self.with_logs(
                [log_line("requeued from the dead-letter queue", at)]
            ).logs
        if target is JobState.COMPLETED:
            extra["progress"] = 100
        if target is not JobState.RUNNING:  # a lease belongs to a running attempt only
            extra.update(lease_until=None, lease_holder=None)
        return self.model_copy(update={**extra, **changes})

    def with_lease(self, until: datetime) -> Job:
        """This running job with its lease moved to ``until`` (renewed, or given back);
        not a state change, so ``updated_at`` stays."""
        if self.state is not JobState.RUNNING:
            raise IllegalTransition(self.state.value, "lease")
        return self.model_copy(update={"lease_until": until})

    def with_progress(
        self, progress: int, stage: str | None, *, now: datetime | None = None
    ) -> Job:
        """This running job with new progress; progress never goes backwards."""
        if self.state is not JobState.RUNNING:
            raise IllegalTransition(self.state.value, "progress")
        value = max(self.progress, min(100, max(0, int(progress))))
        changes: dict[str, Any] = {"progress": value, "updated_at": now or utcnow()}
        if stage is not None:
            changes["stage"] = stage[:MAX_STAGE_CHARS]
        return self.model_copy(update=changes)

    def with_logs(self, lines: Sequence[LogLine]) -> Job:
        """This job with ``lines`` added to its log: the last MAX_LOG_LINES kept, fewer
        when the job would not fit a status row otherwise (shared/job_logs.py)."""
        if not lines:
            return self
        return fitted(self.model_copy(update={"logs": [*self.logs, *lines][-MAX_LOG_LINES:]}))

    def failure(self, exc_type: str, message: str, *, retryable: bool, now: datetime) -> JobError:
        return JobError(
            type=exc_type,
            message=message[:MAX_ERROR_CHARS],
            retryable=retryable,
            attempt=self.attempt,
            at=now,
        )

    def with_error(self, error: JobError) -> list[JobError]:
        """The errors with ``error`` in its attempt's place (one per attempt, in order)."""
        kept = [e for e in self.errors if e.attempt != error.attempt]
        return sorted([*kept, error], key=lambda e: e.attempt)

    def to_public(self) -> dict[str, Any]:
        """The JSON shape the API returns (the log apart: GET /jobs/{id}/logs has it)."""
        return self.model_dump(mode="json", exclude={"logs"})
