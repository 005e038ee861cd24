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

The delivery count plays no part: a running attempt holds a *lease* on its job record
(``lease_until``, ``lease_holder``), written when a delivery starts or takes over the
attempt and renewed by its run (:class:`~shared.attempts.AttemptRun`), so no attempt
ever runs twice at once, however often its message is delivered. Every state change is
a conditional write, so two workers racing on one job cannot both win.

A tenant at its running cap waits (shared/runcap.py), and so does a job whose type or
priority is paused (shared/pauses.py), without spending an attempt. A started attempt
is settled from what its run returned or raised (shared/settling.py: completed,
cancelled, deferred, retried, or failed for good with its dead-letter record), and
:meth:`Worker.handle` returns, so the host completes the message, on Azure and on the
local host alike. A backend down, shutdown or a function timeout hands the message back
instead; only a message that raises past ``maxDeliveryCount`` (an undecodable one, or a
backend down for that long) reaches the queue's own dead-letter queue (docs/retries.md).
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from datetime import timedelta
from typing import Any

from opentelemetry.trace import SpanKind

from shared.attempts import AttemptRun, RunTiming, lease_live, running_attempt
from shared.errors import BackendUnavailable, NotFound
from shared.guarded import guarded_update
from shared.jobs import Job, JobState, lease_timing
from shared.jobtypes import JobTypeRegistry
from shared.messages import Delivery, JobMessage
from shared.metrics import Metrics
from shared.pauses import HELD_STATES, Pause, Pauses
from shared.ports import JobQueue, ResultStore, StatusStore
from shared.priorities import PriorityQueues
from shared.runcap import SLOT_WAIT_SECONDS, RunningCap
from shared.settling import Backoffs, Settler
from shared.telemetry import context_from, enqueue_attributes, job_context, tracer

log = logging.getLogger(__name__)


class Worker:
    """Handles deliveries (see the module docstring) with these stores, queues and job
    types. ``timing`` holds the clock, the lease, the cancellation checks and the
    deployment's time limit (by default: the lease from the queues' lock duration, see
    shared.jobs.lease_timing); ``backoffs`` the waits before a delivery is tried again
    and their jitter; ``cap`` the per-tenant running cap (None: none); ``pauses`` the
    paused job types and priorities (None: none). Each is read per delivery: e.g.
    ``worker.timing = dataclasses.replace(worker.timing, timeout_seconds=1)``."""

    def __init__(
        self,
        *,
        status: StatusStore,
        results: ResultStore,
        queue: JobQueue | PriorityQueues,
        registry: JobTypeRegistry,
        timing: RunTiming | None = None,
        backoffs: Backoffs | None = None,
        cap: RunningCap | None = None,
        metrics: Metrics | None = None,
        pauses: Pauses | None = None,
    ) -> None:
        self.status = status
        self.results = results
        self.queues = PriorityQueues.of(queue)
        self.registry = registry
        if timing is None:
            lock = max(getattr(q, "lock_duration", 30.0) for _, q in self.queues.distinct())
            timing = RunTiming(*lease_timing(lock))
        self.timing = timing
        self.backoffs = backoffs or Backoffs()
        self.cap = cap
        self.metrics = metrics or Metrics()
        self.pauses = pauses

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
            delay = self.backoffs.outage(delivery.delivery_count)
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
        message's traceparent: the enqueue span), with job_id on every log record; a
        started attempt is run and then settled (shared/settling.py)."""
        msg = delivery.message
        with (
            job_context(msg.job_id),
            tracer.start_as_current_span(
                "run",
                context=context_from(msg.traceparent),
                kind=SpanKind.CONSUMER,
                attributes=_delivery_attributes(delivery),
            ) as span,
        ):
            job = await self._start(delivery)
            if not isinstance(job, Job):
                span.set_attribute("dtq.outcome", job)  # skipped, deferred or paused
                return
            span.update_name(f"run {job.job_type}")
            queue_name = self.queues[job.priority].queue_name
            span.set_attributes(enqueue_attributes(job, queue_name, job.attempt))
            log.info("job %s attempt %d started", job.job_id, job.attempt)
            run = AttemptRun(job, status=self.status, registry=self.registry, timing=self.timing)
            await self._settler().settle(run, msg, span)

    def _settler(self) -> Settler:
        """Settles attempts with this worker's current stores, backoffs, clock and cap."""
        return Settler(
            status=self.status,
            results=self.results,
            queues=self.queues,
            backoffs=self.backoffs,
            clock=self.timing.clock,
            metrics=self.metrics,
            cap=self.cap,
        )

    # -- starting -----------------------------------------------------------------

    async def _start(self, delivery: Delivery) -> Job | str:
        """The job with this delivery's attempt started (or taken over) under a new
        lease; else what became of the delivery: ``skipped``, ``deferred`` or ``paused``."""
        msg = delivery.message
        now = self.timing.clock()
        lease = {
            "lease_until": now + timedelta(seconds=self.timing.lease_seconds),
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
        starts = change(current) is not None
        if starts and self.pauses is not None and current.state in HELD_STATES:
            pause = await self.pauses.holding(current)
            if pause is not None:  # not started: a copy is sent for the next re-check
                await self._hold(current, msg, pause)
                return "paused"
        cap = self.cap.of(msg.tenant_id) if self.cap else 0
        if self.cap and cap and starts:
            hold = (self.timing.timeout_seconds or 600) + 60
            if not await self.cap.take(msg, now, hold):
                delay = (self.backoffs.rng or random).uniform(*SLOT_WAIT_SECONDS)
                await self._send_later(current, msg, delay)
                log.info("job %s waits for a running slot (its tenant's cap)", msg.job_id)
                return "skipped"  # the tenant runs its cap: a copy was sent for later
        try:
            job, changed = await guarded_update(
                self.status, msg.tenant_id, msg.job_id, change, known=current
            )
        except NotFound:
            log.warning("message for unknown job %s completed as a no-op", msg.job_id)
            return "skipped"
        if changed and current.state is not JobState.RUNNING:
            waited = (now - (current.next_attempt_at or current.updated_at)).total_seconds()
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

    async def _send_later(self, job: Job, msg: JobMessage, delay: float) -> None:
        """Send this attempt again in ``delay`` s (a copy under a fresh id), not started."""
        due = self.timing.clock() + timedelta(seconds=delay)
        copy_id = f"{msg.message_id}.w{secrets.token_hex(4)}"
        await self.queues[job.priority].send([msg.outgoing(scheduled_at=due, message_id=copy_id)])

    async def _hold(self, job: Job, msg: JobMessage, pause: Pause) -> None:
        """A pause holds the job: its message again one re-check later, and its stage
        ``paused`` (written once; its state and attempt count stay)."""
        assert self.pauses is not None
        await self._send_later(job, msg, self.pauses.recheck_seconds)
        await guarded_update(self.status, msg.tenant_id, msg.job_id, Pauses.held, known=job)
        log.info("job %s held: %s %s is paused", job.job_id, pause.kind, pause.value)

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
