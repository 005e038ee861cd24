"""Worker: runs the job behind one delivered message, idempotently.

A message can arrive more than once (lock expiry, a crash, a duplicate send).
The worker decides from the stored job what a delivery means:

=========================================  ===========================================
stored job                                 this delivery (attempt n, delivery count d)
=========================================  ===========================================
missing or terminal (failed ones too)      no-op (the message is completed)
queued / scheduled / retrying, next is n   start attempt n
running attempt n, d == 1                  a duplicate while another worker runs: no-op
running attempt n, d > 1                   the previous holder died: take over attempt n
running attempt n-1                        its worker scheduled n and died: start n
any other attempt number                   stale: no-op
=========================================  ===========================================

Every state change is a conditional write, so two workers racing on one job
cannot both win; the result store keeps the first result written for a job.
Retries are scheduled messages sent *before* the job is marked ``retrying``,
so a crash in between leaves a redelivery, never a job nobody will run.

A job that fails for good (a permanent error, or its last attempt) ends ``failed``
with a :class:`~shared.jobs.DeadLetter` record: that record *is* dtq's dead-letter
queue (the API, UI and CLI list it). :meth:`Worker.handle` then returns, so the host
completes the message, on Azure and on the local host alike. Only a message that
raises past ``maxDeliveryCount`` (an undecodable one, or a backend down for that long)
reaches the queue's own dead-letter queue (docs/retries.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from shared.errors import (
    BackendUnavailable,
    JobCancelled,
    JobFailure,
    JobTimedOut,
    NotFound,
    PoisonJob,
    PreconditionFailed,
    ValidationFailed,
)
from shared.guarded import guarded_update
from shared.jobs import DeadLetter, Job, JobState, utcnow
from shared.jobtypes import JobContext, JobTypeRegistry
from shared.limits import TenantLimits
from shared.messages import Delivery, JobMessage
from shared.metrics import Metrics
from shared.ports import JobQueue, ResultStore, RunSlots, StatusStore
from shared.priorities import PriorityQueues
from shared.retries import RetryPolicy
from shared.telemetry import context_from, enqueue_attributes, job_context, span_in_trace, tracer

log = logging.getLogger(__name__)

#: A job over its tenant's running cap is tried again after a uniform draw from this
#: range of seconds (jittered, so waiting jobs do not come back in one wave).
SLOT_WAIT_SECONDS = (0.5, 2.0)


def running_attempt(job: Job, attempt: int) -> bool:
    """Whether ``job`` is still running ``attempt`` (not settled, nor moved on elsewhere)."""
    return job.state is JobState.RUNNING and job.attempt == attempt


def should_stop(job: Job, attempt: int) -> bool:
    """Whether the worker running ``attempt`` should stop: the job was cancelled, or
    settled or taken over elsewhere."""
    return not running_attempt(job, attempt) or job.cancel_requested_at is not None


class Worker:
    def __init__(
        self,
        *,
        status: StatusStore,
        results: ResultStore,
        queue: JobQueue | PriorityQueues,
        registry: JobTypeRegistry,
        retry_policy: RetryPolicy | None = None,
        timeout_seconds: float | None = None,
        outage_backoff: tuple[float, float] = (1.0, 60.0),
        cancel_check_seconds: float = 2.0,
        limits: TenantLimits | None = None,
        slots: RunSlots | None = None,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.status = status
        self.metrics = metrics or Metrics()
        self.results = results
        self.queues = PriorityQueues.of(queue)
        self.registry = registry
        self.retry_policy = retry_policy or RetryPolicy()
        #: Longest an attempt may run; past it the handler is cancelled (a retryable error).
        self.timeout_seconds = timeout_seconds
        #: Wait before handing a message back when a backend is down: base * 2**(d-1), capped.
        self.outage_backoff_base, self.outage_backoff_max = outage_backoff
        #: How often a running job's status is read to see a cancellation (0: only at
        #: progress reports).
        self.cancel_check_seconds = cancel_check_seconds
        #: Per-tenant running caps, and the shared slots that enforce them.
        self.limits = limits
        self.slots = slots
        self.clock = clock
        #: Source of the backoff jitter (seeded in tests).
        self.rng = rng

    async def handle(self, delivery: Delivery) -> None:
        """Run the delivered attempt; returns normally when the message may be completed,
        whatever the attempt's outcome (a job that failed for good is recorded ``failed``
        with its dead-letter record, and its message completed).

        Raises only for infrastructure failures (a backend is down), so that the host
        abandons the message and it is delivered again. Before raising it waits, longer
        with each delivery (the host keeps renewing the lock meanwhile), so an outage of
        minutes does not use up the message's deliveries and dead-letter a good job.
        """
        try:
            await self._handle(delivery)
        except BackendUnavailable as exc:
            delay = min(
                self.outage_backoff_max,
                self.outage_backoff_base * 2 ** (delivery.delivery_count - 1),
            )
            log.warning(
                "job %s: a backend is unavailable (%s); handing the message back in %.1fs",
                delivery.message.job_id,
                exc,
                delay,
            )
            await asyncio.sleep(delay)
            raise

    async def _handle(self, delivery: Delivery) -> None:
        """One delivery, in a consumer span of the job's trace (the parent comes from the
        message's traceparent: the enqueue span), with job_id on every log record."""
        msg = delivery.message
        parent = context_from(msg.traceparent)
        with (
            job_context(msg.job_id),
            tracer.start_as_current_span(
                "run",
                context=parent,
                kind=SpanKind.CONSUMER,
                attributes=_delivery_attributes(delivery),
            ) as span,
        ):
            job = await self._start(delivery)
            if job is None:
                span.set_attribute("dtq.outcome", "skipped")
                return
            span.update_name(f"run {job.job_type}")
            queue_name = self.queues[job.priority].queue_name
            span.set_attributes(enqueue_attributes(job, queue_name, job.attempt))
            log.info("job %s attempt %d started", job.job_id, job.attempt)
            await self._run(job, msg, span)

    async def _run(self, job: Job, msg: JobMessage, span: trace.Span) -> None:
        runner = _Run(self, job)
        began = time.monotonic()
        try:
            result = await runner.execute()
        except JobCancelled:
            span.set_attribute("dtq.outcome", "cancelled")
            if await self._finish(runner.job, JobState.CANCELLED, stage="cancelled"):
                self.metrics.finished(job.job_type, "cancelled", time.monotonic() - began)
        except BackendUnavailable:
            raise  # dtq's own store is down (e.g. a progress write): not the job's failure
        except Exception as exc:  # the handler failed: record it, maybe retry
            span.record_exception(exc)
            span.set_status(trace.StatusCode.ERROR, f"{type(exc).__name__}: {exc}")
            await self._failed(runner.job, msg, exc, time.monotonic() - began)
        else:
            span.set_attribute("dtq.outcome", "completed")
            await self._completed(runner.job, result, time.monotonic() - began)

    # -- starting -----------------------------------------------------------------

    async def _start(self, delivery: Delivery) -> Job | None:
        msg = delivery.message
        now = self.clock()

        def change(job: Job) -> Job | None:
            if job.terminal:
                return None
            if job.state is JobState.RUNNING and job.attempt == msg.attempt:
                if delivery.delivery_count <= 1:
                    return None  # a duplicate; the first copy is being handled
                return job.moved_to(
                    JobState.RUNNING,
                    now=now,
                    delivery_count=delivery.delivery_count,
                    progress=0,
                    stage="redelivered",
                )
            if msg.attempt != job.attempt + 1:
                return None  # stale: a newer attempt exists
            return job.moved_to(
                JobState.RUNNING,
                now=now,
                attempt=msg.attempt,
                delivery_count=delivery.delivery_count,
                started_at=job.started_at or now,
                next_attempt_at=None,
                progress=0,
                stage="started",
            )

        try:
            current = await self.status.get(msg.tenant_id, msg.job_id)
        except NotFound:
            log.warning("message for unknown job %s completed as a no-op", msg.job_id)
            return None
        cap = self._running_cap(msg.tenant_id)
        if cap and change(current) is not None:
            lease = now + timedelta(seconds=(self.timeout_seconds or 600) + 60)
            assert self.slots is not None
            if not await self.slots.acquire(msg.tenant_id, msg.job_id, cap, lease, now):
                await self._wait_for_slot(current, msg, cap)
                return None
        try:
            job, changed = await guarded_update(
                self.status, msg.tenant_id, msg.job_id, change, known=current
            )
        except NotFound:
            log.warning("message for unknown job %s completed as a no-op", msg.job_id)
            return None
        if changed and current.state is not JobState.RUNNING:
            due = current.next_attempt_at or current.updated_at
            waited = (now - due).total_seconds()
            self.metrics.started(job.job_type, job.priority.value, waited)
        if not changed:
            log.info(
                "delivery %s of job %s (%s, attempt %d) is a no-op",
                delivery.message_id,
                job.job_id,
                job.state.value,
                job.attempt,
            )
            return None
        return job

    # -- the running cap ----------------------------------------------------------

    def _running_cap(self, tenant_id: str) -> int:
        if self.limits is None or self.slots is None:
            return 0
        return self.limits.for_tenant(tenant_id).max_running

    async def _wait_for_slot(self, job: Job, msg: JobMessage, cap: int) -> None:
        """The tenant runs ``cap`` jobs already: send this attempt again a little later
        (a scheduled copy under a fresh message id) instead of holding a worker slot."""
        delay = (self.rng or random).uniform(*SLOT_WAIT_SECONDS)
        due = self.clock() + timedelta(seconds=delay)
        copy_id = f"{msg.message_id}.w{secrets.token_hex(4)}"
        await self.queues[job.priority].send([msg.outgoing(scheduled_at=due, message_id=copy_id)])
        log.info(
            "job %s waits for a running slot (tenant %s runs %d already); again in %.1fs",
            job.job_id,
            job.tenant_id,
            cap,
            delay,
        )

    async def _release_slot(self, job: Job) -> None:
        if self._running_cap(job.tenant_id):
            assert self.slots is not None
            try:
                await self.slots.release(job.tenant_id, job.job_id)
            except BackendUnavailable as exc:
                log.warning(
                    "job %s: slot not released (%s); its lease will expire", job.job_id, exc
                )

    # -- finishing ----------------------------------------------------------------

    async def _finish(self, job: Job, state: JobState, **changes: Any) -> bool:
        """Settle this attempt in ``state``; False if it was settled elsewhere meanwhile."""
        attempt = job.attempt
        now = self.clock()

        def change(current: Job) -> Job | None:
            if not running_attempt(current, attempt):
                return None  # someone else settled this attempt (e.g. took it over)
            return current.moved_to(state, now=now, **changes)

        stored, changed = await guarded_update(
            self.status, job.tenant_id, job.job_id, change, known=job
        )
        if not changed:
            log.info(
                "job %s attempt %d was settled elsewhere (%s)", job.job_id, attempt, stored.state
            )
        else:
            await self._release_slot(job)
        return changed

    async def _completed(self, job: Job, result: Any, elapsed: float) -> None:
        written = await self.results.put(job.job_id, job.tenant_id, result)
        if not written:
            log.info("job %s already had a result; the first one is kept", job.job_id)
        if await self._finish(job, JobState.COMPLETED, stage="completed", error=None):
            self.metrics.finished(job.job_type, "completed", elapsed)
            log.info("job %s completed", job.job_id)

    async def _failed(self, job: Job, msg: JobMessage, exc: BaseException, elapsed: float) -> None:
        now = self.clock()
        retryable, message, retry_after, reason = classify(exc)
        error = job.failure(type(exc).__name__, message, retryable=retryable, now=now)
        errors = [*job.errors, error]
        if retryable and job.attempt < job.max_attempts:
            delay = self.retry_policy.delay(job.attempt, retry_after, rng=self.rng)
            due = now + timedelta(seconds=delay)
            retry = JobMessage(job.job_id, job.tenant_id, job.attempt + 1, job.trace_id)
            queue = self.queues[job.priority]
            with span_in_trace(
                f"enqueue retry {job.job_type}",
                job.trace_id,
                kind=SpanKind.PRODUCER,
                attributes=enqueue_attributes(job, queue.queue_name, retry.attempt),
            ):
                await queue.send([retry.outgoing(scheduled_at=due)])
            if await self._finish(
                job,
                JobState.RETRYING,
                error=error,
                errors=errors,
                next_attempt_at=due,
                stage=f"retrying in {delay:.1f}s",
            ):
                self.metrics.finished(job.job_type, "retried", elapsed)
            log.warning(
                "job %s attempt %d failed, retry at %s: %s", job.job_id, job.attempt, due, message
            )
        else:
            if retryable:
                reason = "MaxAttemptsExceeded"
                message = f"attempt {job.attempt} of {job.max_attempts} failed: {message}"
            dead = DeadLetter(reason=reason, description=message, at=now)
            if await self._finish(
                job, JobState.FAILED, error=error, errors=errors, stage="failed", dead_letter=dead
            ):
                self.metrics.finished(job.job_type, "failed", elapsed, reason)
                log.warning("job %s failed (%s): %s", job.job_id, reason, message)


def _delivery_attributes(delivery: Delivery) -> dict[str, Any]:
    msg = delivery.message
    return {
        "messaging.system": "servicebus",
        "messaging.operation.type": "process",
        "messaging.message.id": delivery.message_id,
        "messaging.servicebus.message.delivery_count": delivery.delivery_count,
        "dtq.job_id": msg.job_id,
        "dtq.tenant_id": msg.tenant_id,
        "dtq.attempt": msg.attempt,
    }


def classify(exc: BaseException) -> tuple[bool, str, float | None, str]:
    """(retryable, message, retry_after, dead-letter reason if it ends the job)."""
    if isinstance(exc, JobFailure):
        return exc.retryable, exc.message, exc.retry_after, exc.reason
    if isinstance(exc, JobTimedOut | TimeoutError):
        return True, str(exc) or "the attempt timed out", None, "Timeout"
    # An unexpected exception: assume the next attempt may succeed.
    return True, f"{type(exc).__name__}: {exc}", None, "UnhandledException"


class _Run:
    """One attempt of one job: the handler call and its progress reports."""

    def __init__(self, worker: Worker, job: Job) -> None:
        self.worker = worker
        self.job = job
        #: Set when the watcher stopped the handler (cancelled, or settled elsewhere).
        self.stopped = False

    async def execute(self) -> Any:
        try:
            job_type = self.worker.registry.get(self.job.job_type)
        except ValidationFailed as exc:
            raise PoisonJob("UnknownJobType", exc.detail) from None
        try:
            payload = job_type.parse(self.job.payload)
        except ValidationFailed as exc:
            fields = "; ".join(f"{e.field}: {e.message}" for e in exc.errors)
            raise PoisonJob("InvalidPayload", f"{exc.detail} ({fields})") from None
        limit = self._time_limit()
        ctx = JobContext(
            job_id=self.job.job_id,
            tenant_id=self.job.tenant_id,
            job_type=self.job.job_type,
            attempt=self.job.attempt,
            max_attempts=self.job.max_attempts,
            trace_id=self.job.trace_id,
            deadline=None if limit is None else time.monotonic() + limit,
            time_limit=limit,
            _sink=self.report,
        )
        handler = asyncio.ensure_future(job_type.handler(payload, ctx))
        watcher = asyncio.create_task(self._watch(handler))
        try:
            async with asyncio.timeout(ctx.time_left()):
                return await asyncio.shield(handler)
        except TimeoutError:
            raise JobTimedOut(
                f"attempt {self.job.attempt} ran past its time limit of {limit:g}s"
            ) from None
        except asyncio.CancelledError:
            if self.stopped:
                raise JobCancelled(f"job {self.job.job_id} was cancelled") from None
            raise
        finally:
            watcher.cancel()
            if not handler.done():
                handler.cancel()
                with contextlib.suppress(BaseException):
                    await handler

    def _time_limit(self) -> float | None:
        """The job's own timeout, within the deployment's limit."""
        limits = [t for t in (self.job.timeout_seconds, self.worker.timeout_seconds) if t]
        return min(limits) if limits else None

    async def report(self, progress: int, stage: str | None) -> bool:
        """Store progress; True when this attempt should stop (the job was settled or
        moved on elsewhere, e.g. cancelled or taken over after a lost lock)."""
        attempt = self.job.attempt
        now = self.worker.clock()

        def change(current: Job) -> Job | None:
            if not running_attempt(current, attempt) or current.cancel_requested_at:
                return None
            return current.with_progress(progress, stage, now=now)

        try:
            stored, _ = await guarded_update(
                self.worker.status, self.job.tenant_id, self.job.job_id, change, known=self.job
            )
        except PreconditionFailed:
            return False  # heavy contention on one job: skip this report, keep running
        if should_stop(stored, attempt):
            return True
        self.job = stored
        return False

    async def _watch(self, handler: asyncio.Future[Any]) -> None:
        """Between progress reports, check every ``cancel_check_seconds`` whether the job
        was cancelled (or settled elsewhere) and, if so, cancel the handler at its
        current await."""
        interval = self.worker.cancel_check_seconds
        if not interval:
            return
        while not handler.done():
            await asyncio.sleep(interval)
            try:
                current = await self.worker.status.get(self.job.tenant_id, self.job.job_id)
            except BackendUnavailable:
                continue  # the next progress write or check will tell
            if should_stop(current, self.job.attempt):
                self.stopped = True
                handler.cancel()
                return
