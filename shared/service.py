"""JobService: what the API offers users (submit, read, list, cancel)."""

from __future__ import annotations

import asyncio
import builtins
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.constants import MAX_BATCH, MAX_PAGE_SIZE
from shared.errors import BackendUnavailable, Conflict, FieldError, NotFound, ValidationFailed
from shared.guarded import guarded_update
from shared.jobs import Job, JobState, utcnow
from shared.jobtypes import JobTypeRegistry
from shared.messages import JobMessage
from shared.ports import JobQueue, Page, ResultStore, StatusStore, StoredResult

log = logging.getLogger(__name__)

#: States a job can be cancelled from without asking a worker.
CANCELLABLE_AT_ONCE = frozenset({JobState.QUEUED, JobState.SCHEDULED, JobState.RETRYING})


@dataclass(frozen=True)
class Submission:
    job_type: str
    payload: Any
    max_attempts: int | None = None


class JobService:
    def __init__(
        self,
        *,
        status: StatusStore,
        results: ResultStore,
        queue: JobQueue,
        registry: JobTypeRegistry,
        default_max_attempts: int = 3,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.status = status
        self.results = results
        self.queue = queue
        self.registry = registry
        self.default_max_attempts = default_max_attempts
        self.clock = clock

    # -- commands -----------------------------------------------------------------

    async def submit(self, tenant_id: str, submission: Submission) -> Job:
        """Validate, persist and enqueue a job; BackendUnavailable if it cannot be kept."""
        [job] = await self.submit_many(tenant_id, [submission], field_prefix="")
        return job

    async def submit_many(
        self, tenant_id: str, submissions: list[Submission], *, field_prefix: str = "jobs"
    ) -> list[Job]:
        """Submit several jobs at once: all are valid and accepted, or none is.

        Validation errors name the job (``jobs[3].payload.message``). The status rows
        are written concurrently (the embedded store commits them together) and the
        messages go to the queue in one send.
        """
        if not 1 <= len(submissions) <= MAX_BATCH:
            raise ValidationFailed(
                f"a batch holds 1 to {MAX_BATCH} jobs",
                [FieldError(field_prefix or "jobs", f"must hold 1 to {MAX_BATCH} jobs")],
            )
        jobs = []
        errors: list[FieldError] = []
        for index, submission in enumerate(submissions):
            prefix = f"{field_prefix}[{index}]." if field_prefix else ""
            try:
                jobs.append(self._new_job(tenant_id, submission))
            except ValidationFailed as exc:
                errors += [FieldError(prefix + e.field, e.message) for e in exc.errors]
                if len(submissions) == 1:
                    raise ValidationFailed(exc.detail, errors) from None
        if errors:
            raise ValidationFailed("some jobs of the batch are not valid", errors)
        created = await asyncio.gather(
            *(self.status.create(job) for job in jobs), return_exceptions=True
        )
        stored = [job for job in created if isinstance(job, Job)]
        failure = next((c for c in created if isinstance(c, BaseException)), None)
        if failure is None:
            messages = [
                JobMessage(job.job_id, tenant_id, attempt=1, trace_id=job.trace_id).outgoing()
                for job in stored
            ]
            try:
                await self.queue.send(messages)
                return stored
            except BackendUnavailable as exc:
                failure = exc
        # Not enqueued means not accepted: take the records back so no job waits forever.
        for job in stored:
            try:
                await self.status.delete(tenant_id, job.job_id)
            except BackendUnavailable:
                log.error("job %s is stored but could not be enqueued nor removed", job.job_id)
        raise failure

    def _new_job(self, tenant_id: str, submission: Submission) -> Job:
        job_type = self.registry.get(submission.job_type)
        payload = job_type.parse(submission.payload).model_dump(mode="json")
        max_attempts = submission.max_attempts or self.default_max_attempts
        if not 1 <= max_attempts <= 100:
            raise ValidationFailed(
                "max_attempts is out of range", [FieldError("max_attempts", "must be 1 to 100")]
            )
        return Job.new(
            tenant_id=tenant_id,
            job_type=job_type.name,
            payload=payload,
            max_attempts=max_attempts,
            now=self.clock(),
        )

    async def cancel(self, tenant_id: str, job_id: str) -> Job:
        """Cancel a job that has not started; Conflict if it is running or finished."""
        await self.get(tenant_id, job_id)

        def change(job: Job) -> Job | None:
            if job.state is JobState.CANCELLED:
                return None
            if job.state not in CANCELLABLE_AT_ONCE:
                raise Conflict(f"job {job_id} is {job.state.value} and cannot be cancelled now")
            return job.moved_to(JobState.CANCELLED, now=self.clock(), stage="cancelled")

        job, _ = await guarded_update(self.status, tenant_id, job_id, change)
        return job

    # -- queries ------------------------------------------------------------------

    async def get(self, tenant_id: str, job_id: str) -> Job:
        return await self.status.get(tenant_id, job_id)

    async def result(self, tenant_id: str, job_id: str) -> StoredResult:
        job = await self.get(tenant_id, job_id)
        stored = await self.results.get(job_id) if job.state is JobState.COMPLETED else None
        if stored is None:
            raise NotFound(f"job {job_id} has no result (it is {job.state.value})")
        return stored

    async def list(
        self,
        tenant_id: str,
        *,
        state: str | None = None,
        job_type: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Job]:
        errors: builtins.list[FieldError] = []
        parsed_state: JobState | None = None
        if state:
            try:
                parsed_state = JobState(state)
            except ValueError:
                errors.append(
                    FieldError("state", f"must be one of: {', '.join(s.value for s in JobState)}")
                )
        if job_type and job_type not in self.registry:
            errors.append(
                FieldError("job_type", f"must be one of: {', '.join(self.registry.names())}")
            )
        if not 1 <= limit <= MAX_PAGE_SIZE:
            errors.append(FieldError("limit", f"must be 1 to {MAX_PAGE_SIZE}"))
        if errors:
            raise ValidationFailed("invalid list filters", errors)
        return await self.status.list(
            tenant_id, state=parsed_state, job_type=job_type or None, limit=limit, cursor=cursor
        )

    def job_types(self) -> builtins.list[dict[str, Any]]:
        return [jt.describe() for jt in self.registry]

    async def health(self) -> dict[str, Any]:
        """Reachability of each backend; ``ok`` is False if any is down."""
        checks: dict[str, Any] = {}
        for name, probe in (
            ("status_store", self.status.ping),
            ("result_store", self.results.ping),
            ("job_queue", self.queue.depth),
        ):
            try:
                await probe()
                checks[name] = {"ok": True}
            except BackendUnavailable as exc:
                checks[name] = {"ok": False, "error": str(exc)}
        return {"ok": all(c["ok"] for c in checks.values()), "checks": checks}
