"""Worker: what one delivered message means, idempotently: start, defer or settle.

A message can arrive more than once (lock expiry, a crash, a duplicate send).
The worker decides from the stored job what a delivery means:

=========================================  ===========================================
stored job                                 this delivery (attempt n)
=========================================  ===========================================
missing or terminal (failed ones too)      no-op (the message is completed)
queued / scheduled / retrying, next is n   start attempt n, holding its lease
running attempt n, lease live              another run holds it: send a copy of this
                                           message due at the lease's end (message id
                                           ``<job>.<n>.lease-<end>``), complete this one
running attempt n, lease lapsed, or this   the run that held it is gone: take over
is the copy due at this very lease's end   attempt n, with a new lease
running attempt n-1                        its worker scheduled n and died: start n
any other attempt number                   stale: no-op
=========================================  ===========================================

The delivery count plays no part: a running attempt holds a *lease* on its job
record (``lease_until``, ``lease_holder``), written when a delivery starts or takes over
the attempt and kept by its run (:class:`~shared.attempts.AttemptRun`, which calls the
handler, stores its progress and renews the lease), so no attempt ever runs twice at
once, however often its message is delivered. The worker then settles the attempt from
what its run returned or raised; a backend down, shutdown or a function timeout hands
the message back instead, with the run's lease given back first where the store lets it.

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
import logging
import random
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from shared.attempts import AttemptRun, LeaseLost, RunTiming, running_attempt
from shared.control import ResultTooLarge
from shared.errors import BackendUnavailable, NotFound, TooLarge
from shared.guarded import guarded_update
from shared.jobs import DeadLetter, Job, JobState, lease_timing, utcnow
from shared.jobtypes import JobTypeRegistry
from shared.jobtypes.errors import JobCancelled, JobDeferred, JobFailure, JobTimedOut
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


def lease_live(job: Job, delivery: Delivery, now: datetime) -> bool:
    """Whether another run holds ``job``'s running attempt, as far as ``delivery`` can
    tell: its lease has not lapsed, and this is not the copy sent to wait for exactly
    that lease's end (finding the same lease then means its holder stopped renewing,
    whatever this machine's clock says)."""
    until = job.lease_until
    if until is None or until <= now:
        return False
    return delivery.message_id != delivery.message.lease_copy_id(until)


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
        lease_seconds: float | None = None,
        lease_renew_seconds: float | None = None,
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
        #: A running attempt's lease, and how often its run renews it (by default from
        #: the queues' lock duration; see shared.jobs.lease_timing).
        lock = max(getattr(q, "lock_duration", 30.0) for _, q in self.queues.distinct())
        self.lease_seconds, self.lease_renew_seconds = lease_timing(
            lock, lease_seconds, lease_renew_seconds
        )

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
            if not isinstance(job, Job):
                span.set_attribute("dtq.outcome", job)  # skipped, or deferred
                return
            span.update_name(f"run {job.job_type}")
            queue_name = self.queues[job.priority].queue_name
            span.set_attributes(enqueue_attributes(job, queue_name, job.attempt))
            log.info("job %s attempt %d started", job.job_id, job.attempt)
            await self._run(job, msg, span)

    async def _run(self, job: Job, msg: JobMessage, span: trace.Span) -> None:
        runner = AttemptRun(
            job,
            status=self.status,
            registry=self.registry,
            timing=RunTiming(
                self.lease_seconds,
                self.lease_renew_seconds,
                self.cancel_check_seconds,
                self.timeout_seconds,
            ),
            clock=self.clock,
        )
        try:
            await self._attempt(runner, msg, span)
        except BackendUnavailable:
            # dtq's own store is down (e.g. a progress or result write): not the job's
            # failure. The message goes back; give the lease back so that its redelivery
            # takes the attempt over at once (if the store lets us).
            await runner.give_back()
            raise
        except asyncio.CancelledError:
            # Shutdown, or a function timeout: the host abandons the message.
            await asyncio.shield(runner.give_back())
            raise

    async def _attempt(self, runner: AttemptRun, msg: JobMessage, span: trace.Span) -> None:
        job = runner.job
        began = time.monotonic()
        try:
            result = await runner.execute()
        except JobCancelled:
            span.set_attribute("dtq.outcome", "cancelled")
            if await self._finish(runner.job, JobState.CANCELLED, stage="cancelled"):
                self.metrics.finished(job.job_type, "cancelled", time.monotonic() - began)
        except JobDeferred as deferred:
            span.set_attribute("dtq.outcome", "deferred")
            await self._deferred(runner.job, msg, deferred, time.monotonic() - began)
        except LeaseLost as lost:
            span.set_attribute("dtq.outcome", "lease lost")
            raise BackendUnavailable(str(lost)) from None  # abandoned; taken over later
        except BackendUnavailable:
            raise
        except Exception as exc:  # the handler failed: record it, maybe retry
            span.record_exception(exc)
            span.set_status(trace.StatusCode.ERROR, f"{type(exc).__name__}: {exc}")
            await self._failed(runner.job, msg, exc, time.monotonic() - began)
        else:
            span.set_attribute("dtq.outcome", "completed")
            await self._completed(runner.job, msg, result, time.monotonic() - began)

    # -- starting -----------------------------------------------------------------

    async def _start(self, delivery: Delivery) -> Job | str:
        """The job with this delivery's attempt started (or taken over) under a new
        lease; else what became of the delivery: ``skipped`` or ``deferred``."""
        msg = delivery.message
        now = self.clock()
        lease = {
            "lease_until": now + timedelta(seconds=self.lease_seconds),
            "lease_holder": secrets.token_hex(8),
        }

        def change(job: Job) -> Job | None:
            if job.terminal:
                return None
            if job.state is JobState.RUNNING and job.attempt == msg.attempt:
                if lease_live(job, delivery, now):
                    return None  # another run holds it: deferred below
                return job.moved_to(  # its run is gone: take the attempt over
                    JobState.RUNNING,
                    now=now,
                    delivery_count=max(delivery.delivery_count, job.delivery_count + 1),
                    progress=0,
                    stage="taken over",
                    **lease,
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
                **lease,
            )

        try:
            current = await self.status.get(msg.tenant_id, msg.job_id)
        except NotFound:
            log.warning("message for unknown job %s completed as a no-op", msg.job_id)
            return "skipped"
        cap = self._running_cap(msg.tenant_id)
        if cap and change(current) is not None:
            slot_lease = now + timedelta(seconds=(self.timeout_seconds or 600) + 60)
            assert self.slots is not None
            if not await self.slots.acquire(msg.tenant_id, msg.job_id, cap, slot_lease, now):
                await self._wait_for_slot(current, msg, cap)
                return "skipped"
        try:
            job, changed = await guarded_update(
                self.status, msg.tenant_id, msg.job_id, change, known=current
            )
        except NotFound:
            log.warning("message for unknown job %s completed as a no-op", msg.job_id)
            return "skipped"
        if changed and current.state is not JobState.RUNNING:
            due = current.next_attempt_at or current.updated_at
            waited = (now - due).total_seconds()
            self.metrics.started(job.job_type, job.priority.value, waited)
        if not changed:
            if running_attempt(job, msg.attempt) and lease_live(job, delivery, now):
                await self._defer(job, delivery)
                return "deferred"
            log.info(
                "delivery %s of job %s (%s, attempt %d) is a no-op",
                delivery.message_id,
                job.job_id,
                job.state.value,
                job.attempt,
            )
            return "skipped"
        if current.state is JobState.RUNNING and current.attempt == msg.attempt:
            log.warning(
                "job %s attempt %d: its lease lapsed (until %s); delivery %s takes it over",
                job.job_id,
                job.attempt,
                current.lease_until,
                delivery.message_id,
            )
        return job

    async def _defer(self, job: Job, delivery: Delivery) -> None:
        """Another run holds this attempt's lease: send a copy of the message due at the
        lease's end (one per lease: duplicate detection folds the copies that other
        deliveries make for it), so that this delivery is not lost if that run dies."""
        assert job.lease_until is not None
        msg = delivery.message
        copy_id = msg.lease_copy_id(job.lease_until)
        queue = self.queues[job.priority]
        await queue.send([msg.outgoing(scheduled_at=job.lease_until, message_id=copy_id)])
        log.info(
            "job %s attempt %d is leased by another run until %s: delivery %s (count %d)"
            " deferred to %s",
            job.job_id,
            job.attempt,
            job.lease_until.isoformat(),
            delivery.message_id,
            delivery.delivery_count,
            copy_id,
        )

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
        attempt, holder = job.attempt, job.lease_holder
        now = self.clock()

        def change(current: Job) -> Job | None:
            if not running_attempt(current, attempt, holder):
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

    async def _completed(self, job: Job, msg: JobMessage, result: Any, elapsed: float) -> None:
        try:
            written = await self.results.put(job.job_id, job.tenant_id, result)
        except TooLarge as exc:
            # Storing it can never succeed: the attempt fails for good, not retried.
            limit = f"{exc.limit:,} bytes" if exc.limit else "what the result store keeps"
            failure = ResultTooLarge(f"the job's result is too large to keep ({limit}): {exc}")
            await self._failed(job, msg, failure, elapsed)
            return
        if not written:
            log.info("job %s already had a result; the first one is kept", job.job_id)
        if await self._finish(job, JobState.COMPLETED, stage="completed", error=None):
            self.metrics.finished(job.job_type, "completed", elapsed)
            log.info("job %s completed", job.job_id)

    async def _deferred(
        self, job: Job, msg: JobMessage, deferred: JobDeferred, elapsed: float
    ) -> None:
        """Give the attempt back unspent: send it again, due after the wait (with a
        little jitter, so deferred jobs do not come back in one wave), then record the
        job ``scheduled`` with the attempt before it, so that the copy starts it."""
        wait = min(deferred.seconds, self.retry_policy.retry_after_max_seconds)
        wait += (self.rng or random).uniform(0, min(30.0, 0.1 * wait))
        due = self.clock() + timedelta(seconds=wait)
        copy_id = f"{msg.message_id}.d{round(due.timestamp() * 1000)}"
        await self.queues[job.priority].send([msg.outgoing(scheduled_at=due, message_id=copy_id)])
        if await self._finish(
            job,
            JobState.SCHEDULED,
            attempt=job.attempt - 1,
            next_attempt_at=due,
            progress=0,
            stage=f"deferred: {deferred.message}",
        ):
            self.metrics.finished(job.job_type, "deferred", elapsed)
        log.info("job %s attempt %d deferred to %s: %s", job.job_id, job.attempt, due, deferred)

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
