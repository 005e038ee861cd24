"""The dead-letter queue a user sees: the tenant's failed jobs.

A job that failed for good is ``failed`` with a ``dead_letter`` record, so the queue
pages, filters and isolates tenants like any list. Requeue moves a job back to
``queued`` with a fresh budget of attempts; purge deletes it; both also act in bulk.
(Messages the queue itself dead-lettered are the reconciler's, shared/maintenance.py.)"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from opentelemetry.trace import SpanKind

from shared.admission import attempts_error
from shared.constants import MAX_BULK, MAX_PAGE_SIZE
from shared.errors import (
    BackendUnavailable,
    Conflict,
    FieldError,
    NotFound,
    PreconditionFailed,
    ValidationFailed,
)
from shared.guarded import guarded_update
from shared.jobs import Job, JobState, utcnow
from shared.messages import JobMessage
from shared.ports import JobQueue, Page, StatusStore
from shared.priorities import PriorityQueues
from shared.queries import Queries
from shared.telemetry import enqueue_attributes, span_in_trace

log = logging.getLogger(__name__)


class DeadLetters:
    def __init__(
        self,
        *,
        status: StatusStore,
        queue: JobQueue | PriorityQueues,
        queries: Queries,
        default_max_attempts: int = 3,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.status = status
        self.queues = PriorityQueues.of(queue)
        self.queries = queries
        self.default_max_attempts = default_max_attempts
        self.clock = clock

    async def list(
        self,
        tenant_id: str,
        *,
        job_type: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Job]:
        return await self.queries.list(
            tenant_id, state=JobState.FAILED.value, job_type=job_type, limit=limit, cursor=cursor
        )

    def _attempt_budget(self, max_attempts: int | None) -> int:
        budget = max_attempts or self.default_max_attempts
        if (error := attempts_error(budget)) is not None:
            raise ValidationFailed("max_attempts is out of range", [error])
        return budget

    async def requeue(self, tenant_id: str, job_id: str, *, max_attempts: int | None = None) -> Job:
        """Send a failed job round again with ``max_attempts`` more attempts (default:
        the deployment's default); Conflict if the job is not in the dead-letter queue."""
        budget = self._attempt_budget(max_attempts)
        now = self.clock()

        def change(job: Job) -> Job | None:
            if job.state is not JobState.FAILED:
                raise Conflict(f"job {job_id} is {job.state.value}, not in the dead-letter queue")
            return job.moved_to(
                JobState.QUEUED,
                now=now,
                max_attempts=job.attempt + budget,
                requeues=job.requeues + 1,
                stage="requeued",
            )

        failed = await self.status.get(tenant_id, job_id)
        queued, _ = await guarded_update(self.status, tenant_id, job_id, change, known=failed)
        message = JobMessage(job_id, tenant_id, queued.attempt + 1, trace_id=queued.trace_id)
        queue = self.queues[queued.priority]
        try:
            with span_in_trace(
                f"requeue {queued.job_type}",
                queued.trace_id,
                kind=SpanKind.PRODUCER,
                attributes=enqueue_attributes(queued, queue.queue_name, message.attempt),
            ):
                await queue.send([message.outgoing()])
        except BackendUnavailable:
            # Not enqueued: put the job back as it was, or it would wait for nothing.
            try:
                await self.status.replace(failed.model_copy(update={"etag": queued.etag}))
            except (BackendUnavailable, PreconditionFailed):
                log.error("job %s is queued but could not be enqueued nor put back", job_id)
            raise
        log.info("job %s requeued (attempt %d next)", job_id, message.attempt)
        return queued

    async def purge(self, tenant_id: str, job_id: str) -> None:
        """Delete a failed job for good; Conflict if it is not in the dead-letter queue."""
        job = await self.status.get(tenant_id, job_id)
        if job.state is not JobState.FAILED:
            raise Conflict(f"job {job_id} is {job.state.value}, not in the dead-letter queue")
        await self.status.delete(tenant_id, job_id)

    async def requeue_matching(
        self,
        tenant_id: str,
        *,
        job_type: str | None = None,
        limit: int = 100,
        max_attempts: int | None = None,
    ) -> tuple[builtins.list[Job], bool]:
        """Requeue up to ``limit`` dead-lettered jobs (of ``job_type``); returns them and
        whether more remain."""
        self._attempt_budget(max_attempts)

        async def requeue_one(job: Job) -> Job:
            return await self.requeue(tenant_id, job.job_id, max_attempts=max_attempts)

        return await self._each(tenant_id, job_type, limit, requeue_one)

    async def purge_matching(
        self, tenant_id: str, *, job_type: str | None = None, limit: int = 100
    ) -> tuple[builtins.list[Job], bool]:
        """Purge up to ``limit`` dead-lettered jobs (of ``job_type``); returns them and
        whether more remain."""

        async def purge_one(job: Job) -> Job:
            await self.purge(tenant_id, job.job_id)
            return job

        return await self._each(tenant_id, job_type, limit, purge_one)

    async def _each(
        self,
        tenant_id: str,
        job_type: str | None,
        limit: int,
        action: Callable[[Job], Awaitable[Job]],
    ) -> tuple[builtins.list[Job], bool]:
        if not 1 <= limit <= MAX_BULK:
            raise ValidationFailed(
                "limit is out of range", [FieldError("limit", f"must be 1 to {MAX_BULK}")]
            )
        done: builtins.list[Job] = []
        cursor: str | None = None
        while len(done) < limit:
            page = await self.list(
                tenant_id,
                job_type=job_type,
                limit=min(MAX_PAGE_SIZE, limit - len(done)),
                cursor=cursor,
            )
            for job in page.items:
                try:
                    done.append(await action(job))
                except (Conflict, NotFound):
                    continue  # requeued, purged or changed meanwhile by someone else
            cursor = page.next_cursor
            if cursor is None:
                return done, False
        more = bool((await self.list(tenant_id, job_type=job_type, limit=1, cursor=cursor)).items)
        return done, more
