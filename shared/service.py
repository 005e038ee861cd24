"""JobService: what the API offers users (submit, read, list, cancel, and the
dead-letter queue: list, requeue, purge)."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import hashlib
import json
import logging
import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from shared.constants import MAX_BATCH, MAX_BULK, MAX_PAGE_SIZE, MAX_SCHEDULE_AHEAD
from shared.errors import (
    BackendUnavailable,
    Conflict,
    FieldError,
    NotFound,
    PreconditionFailed,
    RateLimited,
    ValidationFailed,
)
from shared.guarded import guarded_update
from shared.jobs import DeadLetter, Job, JobState, Priority, iso_utc, utcnow
from shared.jobtypes import JobTypeRegistry
from shared.limits import TenantLimits
from shared.messages import JobMessage
from shared.metrics import Metrics
from shared.ports import (
    IdempotencyKeys,
    JobQueue,
    Page,
    RateCounters,
    ReceivedMessage,
    ResultStore,
    StatusStore,
    StoredResult,
    WorkerRegistry,
)
from shared.priorities import PriorityQueues
from shared.telemetry import (
    current_trace_id,
    enqueue_attributes,
    span_in_trace,
    start_span_in_trace,
)

log = logging.getLogger(__name__)

#: Rows one retention step deletes at most (it repeats until none is left).
RETENTION_BATCH = 500

#: A worker process not heard from for this long is left out of the stats.
WORKER_STALE_SECONDS = 15

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
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class JobService:
    def __init__(
        self,
        *,
        status: StatusStore,
        results: ResultStore,
        queue: JobQueue | PriorityQueues,
        registry: JobTypeRegistry,
        default_max_attempts: int = 3,
        max_timeout_seconds: float = 540.0,
        keys: IdempotencyKeys | None = None,
        idempotency_window_seconds: float = 86400.0,
        limits: TenantLimits | None = None,
        rates: RateCounters | None = None,
        retention_seconds: float = 7 * 86400.0,
        result_ttl_seconds: float = 7 * 86400.0,
        clock: Callable[[], datetime] = utcnow,
        metrics: Metrics | None = None,
    ) -> None:
        self.status = status
        self.metrics = metrics or Metrics()
        self.results = results
        self.queues = PriorityQueues.of(queue)
        self.registry = registry
        self.default_max_attempts = default_max_attempts
        self.max_timeout_seconds = max_timeout_seconds
        self.keys = keys
        self.idempotency_window = timedelta(seconds=idempotency_window_seconds)
        self.limits = limits
        self.rates = rates
        self.retention = timedelta(seconds=retention_seconds)
        self.result_ttl = timedelta(seconds=result_ttl_seconds)
        self.clock = clock

    # -- commands -----------------------------------------------------------------

    async def submit(self, tenant_id: str, submission: Submission) -> Job:
        """Validate, persist and enqueue a job; BackendUnavailable if it cannot be kept,
        RateLimited if the tenant is over its submissions per minute."""
        job = self._new_job(tenant_id, submission, trace_id=current_trace_id())
        await self._count_submissions(tenant_id, 1)
        [stored] = await self._accept(tenant_id, [job])
        return stored

    async def _count_submissions(self, tenant_id: str, n: int) -> None:
        """Count ``n`` submissions against the tenant's limit, or RateLimited."""
        if self.limits is None or self.rates is None or n == 0:
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
        job = self._new_job(tenant_id, submission, trace_id=current_trace_id())
        digest = request_hash(submission)
        now = self.clock()
        record = await self.keys.claim(
            tenant_id, key, digest, job.job_id, now + self.idempotency_window, now
        )
        if record.created:
            try:
                await self._count_submissions(tenant_id, 1)
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
                    return await self.get(tenant_id, record.job_id), False
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
        self, tenant_id: str, submissions: builtins.list[Submission | ValidationFailed]
    ) -> builtins.list[Job | ValidationFailed]:
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
        outcomes: builtins.list[Job | ValidationFailed] = []
        for submission in submissions:
            if isinstance(submission, ValidationFailed):
                outcomes.append(submission)
                continue
            try:
                outcomes.append(self._new_job(tenant_id, submission))
            except ValidationFailed as exc:
                outcomes.append(exc)
        valid = [o for o in outcomes if isinstance(o, Job)]
        await self._count_submissions(tenant_id, len(valid))
        accepted = iter(await self._accept(tenant_id, valid) if valid else [])
        return [next(accepted) if isinstance(o, Job) else o for o in outcomes]

    async def _accept(self, tenant_id: str, jobs: builtins.list[Job]) -> builtins.list[Job]:
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

    async def _enqueue(self, queue: JobQueue, jobs: builtins.list[Job]) -> None:
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

    def _new_job(self, tenant_id: str, submission: Submission, trace_id: str | None = None) -> Job:
        """A valid new job; ``trace_id`` is its submit request's trace (a batch's jobs
        get a trace each)."""
        job_type = self.registry.get(submission.job_type)
        payload = job_type.parse(submission.payload).model_dump(mode="json")
        max_attempts = submission.max_attempts or self.default_max_attempts
        errors: builtins.list[FieldError] = []
        if not 1 <= max_attempts <= 100:
            errors.append(FieldError("max_attempts", "must be 1 to 100"))
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
        )

    @staticmethod
    def _run_at(
        submission: Submission, now: datetime, errors: builtins.list[FieldError]
    ) -> datetime | None:
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

    async def cancel(self, tenant_id: str, job_id: str) -> Job:
        """Cancel a job. One that has not started is cancelled at once (its message is a
        no-op when delivered); a running one is asked to stop, and its worker ends it
        ``cancelled`` at its next progress report or cancellation check. Conflict if
        the job already finished otherwise."""
        await self.get(tenant_id, job_id)
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

    # -- the dead-letter queue ----------------------------------------------------
    #
    # A job that failed for good is ``failed`` with a ``dead_letter`` record; the
    # dead-letter queue a user sees is the tenant's failed jobs, so it pages, filters
    # and isolates tenants like any list. Requeue moves a job back to ``queued`` with
    # a fresh budget of attempts; purge deletes it.

    async def dead_letters(
        self,
        tenant_id: str,
        *,
        job_type: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Job]:
        return await self.list(
            tenant_id, state=JobState.FAILED.value, job_type=job_type, limit=limit, cursor=cursor
        )

    def _attempt_budget(self, max_attempts: int | None) -> int:
        budget = max_attempts or self.default_max_attempts
        if not 1 <= budget <= 100:
            raise ValidationFailed(
                "max_attempts is out of range", [FieldError("max_attempts", "must be 1 to 100")]
            )
        return budget

    async def requeue(self, tenant_id: str, job_id: str, *, max_attempts: int | None = None) -> Job:
        """Send a failed job round again with ``max_attempts`` more attempts (default:
        the service's default); Conflict if the job is not in the dead-letter queue."""
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

        failed = await self.get(tenant_id, job_id)
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
        job = await self.get(tenant_id, job_id)
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

        return await self._each_dead_letter(tenant_id, job_type, limit, requeue_one)

    async def purge_matching(
        self, tenant_id: str, *, job_type: str | None = None, limit: int = 100
    ) -> tuple[builtins.list[Job], bool]:
        """Purge up to ``limit`` dead-lettered jobs (of ``job_type``); returns them and
        whether more remain."""

        async def purge_one(job: Job) -> Job:
            await self.purge(tenant_id, job.job_id)
            return job

        return await self._each_dead_letter(tenant_id, job_type, limit, purge_one)

    async def _each_dead_letter(
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
            page = await self.dead_letters(
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
        more = bool(
            (await self.dead_letters(tenant_id, job_type=job_type, limit=1, cursor=cursor)).items
        )
        return done, more

    # -- messages the queue dead-lettered by itself ----------------------------------

    async def reconcile_dead_letters(self, batch: int = 100) -> int:
        """Fail the jobs whose message the queue dead-lettered on its own (delivered
        ``maxDeliveryCount`` times without being settled: e.g. a worker that crashes on
        it every time), which would otherwise stay running or queued forever; returns
        how many jobs it failed. Run by a timer.

        Where it is in each dead-letter queue is kept in the status store (a marker per
        queue, shared by every instance), so a cold instance goes on where the last run
        stopped instead of reading the whole queue again:

        - the *tail*: every message from the highest sequence number seen on, read to
          the end each run;
        - the *sweep*: one page (``batch`` messages) below the tail, from where the last
          sweep stopped, wrapping round at the tail. A message is not dead-lettered in
          sequence order (one abandoned for minutes, or scheduled long ago, lands after
          higher-numbered ones): the sweep finds it within one pass, about
          (dead-lettered messages / ``batch``) runs. Failing a job is idempotent, so
          reading a message twice changes nothing."""
        failed = 0
        for _, queue in self.queues.distinct():
            failed += await self._reconcile_queue(queue, batch)
        return failed

    async def _reconcile_queue(self, queue: JobQueue, batch: int) -> int:
        name = f"reconciler.{queue.queue_name}"
        tail, sweep = self._cursor(await self.status.get_marker(name))
        failed = 0
        first_visit = tail == 0
        while True:  # the tail: everything dead-lettered since the last run
            messages = await queue.peek_dead_letters(batch, from_sequence_number=tail)
            for message in messages:
                failed += await self._fail_for(message)
                tail = max(tail, message.sequence_number + 1)
            if messages:
                await self.status.put_marker(name, json.dumps({"tail": tail, "sweep": sweep}))
            if len(messages) < batch:
                break
        if first_visit:
            return failed  # the whole queue was just read
        # the sweep: one page below the tail, for messages dead-lettered out of order
        messages = await queue.peek_dead_letters(batch, from_sequence_number=sweep)
        below = [m for m in messages if m.sequence_number < tail]
        for message in below:
            failed += await self._fail_for(message)
        done = len(below) < batch or not below
        sweep = 0 if done else below[-1].sequence_number + 1
        await self.status.put_marker(name, json.dumps({"tail": tail, "sweep": sweep}))
        return failed

    @staticmethod
    def _cursor(marker: str | None) -> tuple[int, int]:
        """(tail, sweep) of a reconciler marker; (0, 0) when missing or unreadable."""
        try:
            value = json.loads(marker) if marker else {}
            return int(value.get("tail", 0)), int(value.get("sweep", 0))
        except (ValueError, TypeError, AttributeError):
            return 0, 0

    async def _fail_for(self, message: ReceivedMessage) -> int:
        try:
            job_message = JobMessage.decode(message.body, message.application_properties)
        except ValidationFailed:
            return 0  # a poison message names no job; it stays listed in /dlq/messages
        now = self.clock()
        reason = message.dead_letter_reason or "DeadLettered"

        def change(job: Job) -> Job | None:
            # The attempt the job waits on: the one running, else the next one (a queued,
            # retrying or requeued job has sent attempt + 1).
            current = job.attempt if job.state is JobState.RUNNING else job.attempt + 1
            if job.terminal or job_message.attempt < current:
                return None  # settled, or an earlier attempt's message (e.g. before a requeue)
            description = (
                f"the queue dead-lettered attempt {job_message.attempt}'s message after"
                f" {message.delivery_count} deliveries"
                + (
                    f": {message.dead_letter_description}"
                    if message.dead_letter_description
                    else ""
                )
            )
            error = job.failure(reason, description, retryable=False, now=now)
            return job.moved_to(
                JobState.FAILED,
                now=now,
                stage="failed",
                error=error,
                errors=[*job.errors, error],
                dead_letter=DeadLetter(reason=reason, description=description, at=now),
            )

        try:
            job, changed = await guarded_update(
                self.status, job_message.tenant_id, job_message.job_id, change
            )
        except NotFound:
            return 0
        if changed:
            self.metrics.dead_lettered(job.job_type, reason)
            log.warning(
                "job %s failed: its message was dead-lettered (%s)", job_message.job_id, reason
            )
        return int(changed)

    # -- retention ----------------------------------------------------------------

    async def apply_retention(self, batch: int = RETENTION_BATCH) -> dict[str, int]:
        """Delete finished jobs older than the retention period, results older than
        their TTL (stores without TTL of their own) and expired idempotency keys, in
        batches until none is left. Run by the retention timer."""
        now = self.clock()
        purged = {"jobs": 0, "results": 0, "idempotency_keys": 0, "rate_counters": 0}

        async def drain(name: str, purge: Callable[[], Awaitable[int]]) -> None:
            while (n := await purge()) > 0:
                purged[name] += n
                if n < batch:
                    return

        await drain("jobs", lambda: self.status.purge_finished(now - self.retention, batch))
        await drain("results", lambda: self.results.purge_older(now - self.result_ttl, batch))
        if self.keys is not None:
            keys = self.keys
            await drain("idempotency_keys", lambda: keys.purge_expired(now, batch))
        if self.rates is not None:
            rates = self.rates
            await drain(
                "rate_counters", lambda: rates.purge_before(now - timedelta(hours=1), batch)
            )
        return purged

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

    async def stats(
        self, tenant_id: str, workers: WorkerRegistry | None = None, *, operator: bool = False
    ) -> dict[str, Any]:
        """The tenant's jobs by state and type, completions per minute over the last
        hour and its dead-letter queue. The queues and the workers are shared by every
        tenant, so only the ``operator`` also gets each queue's messages (and those the
        queues dead-lettered) and (local host) the worker processes; a tenant's
        ``queues`` is empty (docs/tenants.md)."""
        now = self.clock()
        minute = now.replace(second=0, microsecond=0)
        since = minute - timedelta(minutes=59)
        counts = await self.status.counts(tenant_id, completed_since=since)
        by_state: dict[str, int] = {s.value: 0 for s in JobState}
        by_type: dict[str, dict[str, int]] = {}
        for (state, job_type), n in counts.by_state_and_type.items():
            by_state[state] = by_state.get(state, 0) + n
            by_type.setdefault(job_type, {})[state] = n
        done = dict(counts.completed_per_minute)
        per_minute = [
            {
                "minute": iso_utc(since + timedelta(minutes=i)),
                "completed": done.get(since + timedelta(minutes=i), 0),
            }
            for i in range(60)
        ]
        out: dict[str, Any] = {
            "at": iso_utc(now),
            "scope": "operator" if operator else "tenant",
            "jobs": {"total": sum(by_state.values()), "by_state": by_state, "by_type": by_type},
            "completed_last_hour": sum(p["completed"] for p in per_minute),
            "completed_per_minute": per_minute,
            "dead_letter": {"jobs": by_state.get(JobState.FAILED.value, 0)},
            "queues": {},
            "truncated": counts.truncated,
        }
        if not operator:
            return out
        for priority, queue in self.queues.distinct():
            depth = await queue.depth()
            out["queues"][priority.value] = {
                "queue": queue.queue_name,
                "active": depth.active,
                "scheduled": depth.scheduled,
                "dead_lettered": depth.dead_lettered,
            }
        out["dead_letter"]["messages"] = sum(q["dead_lettered"] for q in out["queues"].values())
        if workers is not None:
            live = await workers.live(seen_since=now - timedelta(seconds=WORKER_STALE_SECONDS))
            out["workers"] = [
                {
                    "worker_id": w.worker_id,
                    "pid": w.pid,
                    "hostname": w.hostname,
                    "started_at": iso_utc(w.started_at),
                    "last_seen": iso_utc(w.last_seen),
                    "in_flight": w.in_flight,
                    "invocations": w.invocations,
                    "queues": w.queues,
                }
                for w in live
            ]
        return out

    def job_types(self) -> builtins.list[dict[str, Any]]:
        return [jt.describe() for jt in self.registry]

    async def health(self) -> dict[str, Any]:
        """Reachability of each backend; ``ok`` is False if any is down."""
        checks: dict[str, Any] = {}
        for name, probe in (
            ("status_store", self.status.ping),
            ("result_store", self.results.ping),
            *((f"job_queue_{p.value}", q.depth) for p, q in self.queues.distinct()),
        ):
            try:
                await probe()
                checks[name] = {"ok": True}
            except BackendUnavailable as exc:
                checks[name] = {"ok": False, "error": str(exc)}
        return {"ok": all(c["ok"] for c in checks.values()), "checks": checks}
