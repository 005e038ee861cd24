"""What a submission must be to become a job: valid (:class:`SubmissionRules`), within
its tenant's submissions a minute (:class:`SubmissionRate`), and with a budget of
attempts in range (:func:`attempts_error`, which a requeue's budget obeys too)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from shared.constants import MAX_ATTEMPTS, MAX_SCHEDULE_AHEAD
from shared.errors import FieldError, RateLimited, ValidationFailed
from shared.jobs import Job, utcnow
from shared.jobtypes import JobTypeRegistry
from shared.limits import TenantLimits
from shared.ports import RateCounters
from shared.webhooks.targets import check_url

if TYPE_CHECKING:
    from shared.submissions import Submission


def attempts_error(max_attempts: int) -> FieldError | None:
    """The error of a ``max_attempts`` out of 1..MAX_ATTEMPTS; None if it is in range."""
    if 1 <= max_attempts <= MAX_ATTEMPTS:
        return None
    return FieldError("max_attempts", f"must be 1 to {MAX_ATTEMPTS}")


class SubmissionRules:
    """Turns a submission into a valid new job, or ValidationFailed naming each field."""

    def __init__(
        self,
        registry: JobTypeRegistry,
        *,
        default_max_attempts: int = 3,
        max_timeout_seconds: float = 540.0,
        clock: Callable[[], datetime] = utcnow,
        callback_urls: Mapping[str, str] | None = None,
        allow_private_callbacks: bool = False,
    ) -> None:
        self.registry = registry
        #: Each tenant's default callback URL (DTQ_TENANT_CALLBACK_URLS).
        self.callback_urls = dict(callback_urls or {})
        self.allow_private_callbacks = allow_private_callbacks
        self.default_max_attempts = default_max_attempts
        self.max_timeout_seconds = max_timeout_seconds
        self.clock = clock

    def new_job(self, tenant_id: str, submission: Submission, trace_id: str | None = None) -> Job:
        """A valid new job; ``trace_id`` is its submit request's trace (a batch's jobs
        get a trace each)."""
        job_type = self.registry.get(submission.job_type)
        payload = job_type.parse(submission.payload).model_dump(mode="json")
        max_attempts = submission.max_attempts or self.default_max_attempts
        errors: list[FieldError] = []
        if (error := attempts_error(max_attempts)) is not None:
            errors.append(error)
        timeout = submission.timeout_seconds
        if timeout is not None and not 0 < timeout <= self.max_timeout_seconds:
            errors.append(
                FieldError(
                    "timeout_seconds",
                    f"must be more than 0 and at most {self.max_timeout_seconds:g}"
                    " (this deployment's DTQ_JOB_TIMEOUT_SECONDS)",
                )
            )
        now = self.clock()
        run_at = self._run_at(submission, now, errors)
        callback = submission.callback_url or self.callback_urls.get(tenant_id)
        if submission.callback_url:
            try:
                check_url(submission.callback_url, allow_private=self.allow_private_callbacks)
            except ValidationFailed as exc:
                errors.extend(exc.errors)
        if errors:
            raise ValidationFailed("the submission is not valid", errors)
        return Job.new(
            tenant_id=tenant_id,
            job_type=job_type.name,
            payload=payload,
            max_attempts=max_attempts,
            now=now,
            run_at=run_at,
            timeout_seconds=timeout,
            priority=submission.priority,
            trace_id=trace_id,
            callback_url=callback,
        )

    @staticmethod
    def _run_at(submission: Submission, now: datetime, errors: list[FieldError]) -> datetime | None:
        if submission.scheduled_at is not None and submission.delay_seconds is not None:
            errors.append(
                FieldError("delay_seconds", "give scheduled_at or delay_seconds, not both")
            )
            return None
        if submission.delay_seconds is not None:
            if not 0 <= submission.delay_seconds <= MAX_SCHEDULE_AHEAD.total_seconds():
                errors.append(FieldError("delay_seconds", "must be 0 to 31536000 (a year)"))
                return None
            return now + timedelta(seconds=submission.delay_seconds)
        at = submission.scheduled_at
        if at is None:
            return None
        if at.tzinfo is None:
            errors.append(
                FieldError("scheduled_at", "needs a UTC offset, e.g. 2026-01-01T09:00:00Z")
            )
            return None
        try:
            return at.astimezone(UTC)  # a time in the past means: now
        except (OverflowError, ValueError):  # within an offset of year 1 or year 9999
            return None if at.year == 1 else datetime.max.replace(tzinfo=UTC)


class SubmissionRate:
    """Each tenant's submissions a minute, counted in the shared rate counters."""

    def __init__(
        self,
        limits: TenantLimits,
        rates: RateCounters,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.limits = limits
        self.rates = rates
        self.clock = clock

    async def count(self, tenant_id: str, n: int) -> None:
        """Count ``n`` submissions against the tenant's limit, or RateLimited."""
        if n == 0:
            return
        limit = self.limits.for_tenant(tenant_id).submissions_per_minute
        if not limit:
            return
        now = self.clock()
        window = now.replace(second=0, microsecond=0)
        if n > limit or not await self.rates.add(tenant_id, window, n, limit):
            retry_after = max(1, math.ceil(60 - (now - window).total_seconds()))
            raise RateLimited(
                f"tenant {tenant_id} may submit {limit} jobs a minute; retry in {retry_after}s",
                retry_after,
            )
