"""Submissions: what a caller asks to run (:class:`Submission`), and taking it on
(:class:`Submissions`: submit one, once under an idempotency key, or a batch; and
cancel). A job is accepted only once its record is stored and its first message sent."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from shared.admission import SubmissionRate, SubmissionRules
from shared.constants import MAX_BATCH
from shared.errors import (
    BackendUnavailable,
    Conflict,
    FieldError,
    NotFound,
    RateLimited,
    ValidationFailed,
)
from shared.guarded import guarded_update
from shared.jobs import Job, JobState, Priority
from shared.messages import JobMessage
from shared.metrics import Metrics
from shared.ports import IdempotencyKeys, JobQueue, StatusStore
from shared.priorities import PriorityQueues
from shared.telemetry import current_trace_id, enqueue_attributes, start_span_in_trace

log = logging.getLogger(__name__)

#: What an Idempotency-Key may be.
IDEMPOTENCY_KEY = re.compile(r"[\x20-\x7e]{1,255}")

#: States a job can be cancelled from without asking a worker.
CANCELLABLE_AT_ONCE = frozenset({JobState.QUEUED, JobState.SCHEDULED, JobState.RETRYING})


@dataclass(frozen=True)
class Submission:
    job_type: str
    payload: Any
    max_attempts: int | None = None
    #: Start no earlier than this (RFC 3339 with an offset) ...
    scheduled_at: datetime | None = None
    #: ... or this many seconds from now (not both).
    delay_seconds: float | None = None
    #: Longest one attempt may run (at most the deployment's DTQ_JOB_TIMEOUT_SECONDS).
    timeout_seconds: float | None = None
    priority: Priority = Priority.NORMAL
    #: Where the job's end is POSTed (None: the tenant's default, if it has one).
    callback_url: str | None = None


def request_hash(submission: Submission) -> str:
    """A digest of everything a submission asks for, to tell a repeat from a new request."""
    body = {
        "job_type": submission.job_type,
        "payload": submission.payload,
        "max_attempts": submission.max_attempts,
        "scheduled_at": submission.scheduled_at.isoformat() if submission.scheduled_at else None,
        "delay_seconds": submission.delay_seconds,
        "timeout_seconds": submission.timeout_seconds,
        "priority": submission.priority.value,
        "callback_url": submission.callback_url,
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class Submissions:
    def __init__(
        self,
        *,
        status: StatusStore,
        queue: JobQueue | PriorityQueues,
        rules: SubmissionRules,
        keys: IdempotencyKeys | None = None,
        idempotency_window_seconds: float = 86400.0,
        rate: SubmissionRate | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.status = status
        self.queues = PriorityQueues.of(queue)
        self.rules = rules
        self.keys = keys
        self.idempotency_window = timedelta(seconds=idempotency_window_seconds)
        self.rate = rate
        self.metrics = metrics or Metrics()
        self.clock = rules.clock

    async def submit(self, tenant_id: str, submission: Submission) -> Job:
        """Validate, persist and enqueue a job; BackendUnavailable if it cannot be kept,
        RateLimited if the tenant is over its submissions per minute."""
        job = self.rules.new_job(tenant_id, submission, trace_id=current_trace_id())
        await self._count(tenant_id, 1)
        [stored] = await self._accept(tenant_id, [job])
        return stored

    async def _count(self, tenant_id: str, n: int) -> None:
        if self.rate is not None:
            await self.rate.count(tenant_id, n)

    async def submit_once(
        self, tenant_id: str, submission: Submission, key: str
    ) -> tuple[Job, bool]:
        """Submit under an idempotency key: the first request creates the job; a repeat
        with the same body within the window gets that job back (``False``: not new);
        the same key with a different body is a Conflict."""
        if not IDEMPOTENCY_KEY.fullmatch(key):
            raise ValidationFailed(
                "the Idempotency-Key header is not valid",
                [FieldError("Idempotency-Key", "must be 1 to 255 printable ASCII characters")],
            )
        if self.keys is None:
            return await self.submit(tenant_id, submission), True
        job = self.rules.new_job(tenant_id, submission, trace_id=current_trace_id())
        digest = request_hash(submission)
        now = self.clock()
        record = await self.keys.claim(
            tenant_id, key, digest, job.job_id, now + self.idempotency_window, now
        )
        if record.created:
            try:
                await self._count(tenant_id, 1)
            except RateLimited:
                with contextlib.suppress(BackendUnavailable):
                    await self.keys.release(tenant_id, key, job.job_id)
                raise
        if not record.created:
            if record.request_hash != digest:
                raise Conflict(
                    "this Idempotency-Key was used for a different request; use a new key"
                )
            for _ in range(20):  # a concurrent first request may still be storing its job
                try:
                    return await self.status.get(tenant_id, record.job_id), False
                except NotFound:
                    await asyncio.sleep(0.1)
            raise Conflict(
                "the job of this Idempotency-Key is not there (still being submitted, or"
                " purged); retry shortly or use a new key"
            )
        try:
            [stored] = await self._accept(tenant_id, [job])
        except BaseException:
            with contextlib.suppress(BackendUnavailable):
                await self.keys.release(tenant_id, key, job.job_id)
            raise
        return stored, True

    async def submit_each(
        self, tenant_id: str, submissions: list[Submission | ValidationFailed]
    ) -> list[Job | ValidationFailed]:
        """Submit up to MAX_BATCH jobs, each validated on its own: the valid ones are
        accepted, each invalid one answers with its error, in order. Items the caller
        already found invalid are passed through. The status rows are written
        concurrently and the messages go to the queue in one send; if the backends
        cannot keep them, none of them is accepted (BackendUnavailable)."""
        if not 1 <= len(submissions) <= MAX_BATCH:
            raise ValidationFailed(
                f"a batch holds 1 to {MAX_BATCH} jobs",
                [FieldError("jobs", f"must hold 1 to {MAX_BATCH} jobs")],
            )
        outcomes: list[Job | ValidationFailed] = []
        for submission in submissions:
            if isinstance(submission, ValidationFailed):
                outcomes.append(submission)
                continue
            try:
                outcomes.append(self.rules.new_job(tenant_id, submission))
            except ValidationFailed as exc:
                outcomes.append(exc)
        valid = [o for o in outcomes if isinstance(o, Job)]
        await self._count(tenant_id, len(valid))
        accepted = iter(await self._accept(tenant_id, valid) if valid else [])
        return [next(accepted) if isinstance(o, Job) else o for o in outcomes]

    async def _accept(self, tenant_id: str, jobs: list[Job]) -> list[Job]:
        """Store the jobs and send their messages; all of them, or none (and raise)."""
        created = await asyncio.gather(
            *(self.status.create(job) for job in jobs), return_exceptions=True
        )
        stored = [job for job in created if isinstance(job, Job)]
        failure = next((c for c in created if isinstance(c, BaseException)), None)
        if failure is None:
            try:
                for _, queue in self.queues.distinct():
                    batch = [job for job in stored if self.queues[job.priority] is queue]
                    if batch:
                        await self._enqueue(queue, batch)
                for job in stored:
                    self.metrics.submitted(job.job_type, job.priority.value)
                return stored
            except Exception as exc:  # unavailable, too large, or unforeseen: not accepted
                failure = exc  # messages already sent find no job and are no-ops
        # Not enqueued means not accepted: take the records back so no job waits forever.
        for job in stored:
            try:
                await self.status.delete(tenant_id, job.job_id)
            except BackendUnavailable:
                log.error("job %s is stored but could not be enqueued nor removed", job.job_id)
        raise failure

    async def _enqueue(self, queue: JobQueue, jobs: list[Job]) -> None:
        """Send the first attempt of each job, in one call; each under an enqueue span of
        its job's trace, whose context the message carries to the worker."""
        spans = [
            start_span_in_trace(
                f"enqueue {job.job_type}",
                job.trace_id,
                kind=SpanKind.PRODUCER,
                attributes=enqueue_attributes(job, queue.queue_name),
            )
            for job in jobs
        ]
        messages = []
        for job, span in zip(jobs, spans, strict=True):
            with trace.use_span(span, end_on_exit=False):
                message = JobMessage(job.job_id, job.tenant_id, 1, trace_id=job.trace_id)
                messages.append(message.outgoing(scheduled_at=job.next_attempt_at))
        try:
            await queue.send(messages)
        except BaseException as exc:
            for span in spans:
                span.record_exception(exc)
                span.set_status(trace.StatusCode.ERROR, str(exc))
            raise
        finally:
            for span in spans:
                span.end()

    async def cancel(self, tenant_id: str, job_id: str) -> Job:
        """Cancel a job. One that has not started is cancelled at once (its message is a
        no-op when delivered); a running one is asked to stop, and its worker ends it
        ``cancelled`` at its next progress report or cancellation check. Conflict if
        the job already finished otherwise."""
        await self.status.get(tenant_id, job_id)
        now = self.clock()

        def change(job: Job) -> Job | None:
            if job.state is JobState.CANCELLED:
                return None
            if job.state is JobState.RUNNING:
                if job.cancel_requested_at is not None:
                    return None
                return job.model_copy(
                    update={"cancel_requested_at": now, "updated_at": now, "stage": "cancelling"}
                )
            if job.state not in CANCELLABLE_AT_ONCE:
                raise Conflict(f"job {job_id} is {job.state.value} and cannot be cancelled")
            return job.moved_to(
                JobState.CANCELLED, now=now, stage="cancelled", cancel_requested_at=now
            )

        job, _ = await guarded_update(self.status, tenant_id, job_id, change)
        return job
