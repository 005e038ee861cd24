"""Settling an attempt: what its run returned or raised, recorded on the job.

The worker (shared/worker.py) starts or takes over an attempt and hands its run
(:class:`~shared.attempts.AttemptRun`) to :meth:`Settler.settle`, which executes it and
records what it returned or raised on the job, each outcome as one conditional
write that only the run still holding the attempt's lease wins (an attempt settled or
taken over elsewhere meanwhile is left alone), releasing the tenant's running slot when
it does:

- a result: stored (the result store keeps the first one written for a job), then the
  job ``completed``; a result too large to keep fails the job for good;
- cancelled: the job ``cancelled``;
- deferred (:class:`~shared.jobtypes.errors.JobDeferred`): the attempt is given back
  unspent, a copy of its message sent due after the wait, the job ``scheduled``;
- an exception: :func:`classify` says whether it is retryable. With attempts left, the
  next attempt's message is sent, due after the retry policy's backoff, *before* the
  job is marked ``retrying``, so a crash in between leaves a redelivery, never a job
  nobody will run. Otherwise the job ends ``failed`` with a
  :class:`~shared.jobs.DeadLetter` record: that record *is* dtq's dead-letter queue
  (the API, UI and CLI list it), and the message is completed (docs/retries.md).

A lost lease, a backend down, shutdown or a function timeout settles nothing: the
run's lease is given back where the store lets it (so that a redelivery takes the
attempt over at once), and the worker hands the message back.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from shared.attempts import AttemptRun, LeaseLost, running_attempt
from shared.control import ResultTooLarge
from shared.errors import BackendUnavailable, TooLarge
from shared.guarded import guarded_update
from shared.job_logs import LogLine
from shared.jobs import DeadLetter, Job, JobError, JobState
from shared.jobtypes.errors import JobCancelled, JobDeferred, JobFailure, JobTimedOut
from shared.messages import JobMessage
from shared.metrics import Metrics
from shared.ports import ResultStore, StatusStore
from shared.priorities import PriorityQueues
from shared.retries import RetryPolicy
from shared.runcap import RunningCap
from shared.telemetry import enqueue_attributes, span_in_trace

log = logging.getLogger(__name__)


def classify(exc: BaseException) -> tuple[bool, str, float | None, str]:
    """(retryable, message, retry_after, dead-letter reason if it ends the job)."""
    if isinstance(exc, JobFailure):
        return exc.retryable, exc.message, exc.retry_after, exc.reason
    if isinstance(exc, JobTimedOut | TimeoutError):
        return True, str(exc) or "the attempt timed out", None, "Timeout"
    # An unexpected exception: assume the next attempt may succeed.
    return True, f"{type(exc).__name__}: {exc}", None, "UnhandledException"


@dataclass(frozen=True)
class Backoffs:
    """How long a delivery waits before it is tried again: a failed attempt's next one
    (``retry``, shared/retries.py) and a message the worker hands back while a backend
    is down (``outage_base_seconds * 2**(d-1)`` at delivery d, capped at
    ``outage_max_seconds``). ``rng`` draws the jitter of the retries, of the deferred
    attempts and of the jobs waiting for a running slot (shared/runcap.py); seeded in
    tests, None: the random module's."""

    retry: RetryPolicy = field(default_factory=RetryPolicy)
    outage_base_seconds: float = 1.0
    outage_max_seconds: float = 60.0
    rng: random.Random | None = None

    def outage(self, delivery_count: int) -> float:
        """Seconds to wait before handing back delivery ``delivery_count`` (1-based)."""
        backoff = self.outage_base_seconds * 2 ** (delivery_count - 1)
        return min(self.outage_max_seconds, backoff)


class Settler:
    """Records the outcome of a run's attempt on its job (see the module docstring).

    ``elapsed`` is the run's duration in seconds, for the metrics; ``cap`` (None: no
    running cap) gets the job's running slot back once its attempt is settled here."""

    def __init__(
        self,
        *,
        status: StatusStore,
        results: ResultStore,
        queues: PriorityQueues,
        backoffs: Backoffs,
        clock: Callable[[], datetime],
        metrics: Metrics,
        cap: RunningCap | None,
    ) -> None:
        self.status = status
        self.results = results
        self.queues = queues
        self.backoffs = backoffs
        self.clock = clock
        self.metrics = metrics
        self.cap = cap

    async def settle(self, run: AttemptRun, msg: JobMessage, span: trace.Span) -> None:
        """Execute ``run`` (started from ``msg``) and settle its attempt from what it
        returned or raised, noting the outcome on ``span``. Raises
        :class:`~shared.errors.BackendUnavailable` when the message should go back
        instead (a backend down, or the run's lease lost: another delivery takes the
        attempt over once it lapses), and passes a cancellation on; either way the run's
        lease is given back first, where the store lets it."""
        try:
            await self._settle(run, msg, span)
        except BackendUnavailable:
            # dtq's own store is down (e.g. a progress or result write): not the job's
            # failure. The message goes back; give the lease back so that its redelivery
            # takes the attempt over at once (if the store lets us).
            await run.give_back()
            raise
        except asyncio.CancelledError:
            # Shutdown, or a function timeout: the host abandons the message.
            await asyncio.shield(run.give_back())
            raise

    async def _settle(self, run: AttemptRun, msg: JobMessage, span: trace.Span) -> None:
        began = time.monotonic()
        try:
            result = await run.execute()
        except JobCancelled:
            span.set_attribute("dtq.outcome", "cancelled")
            await self.cancelled(run.job, time.monotonic() - began, run.logs.take())
        except JobDeferred as deferred:
            span.set_attribute("dtq.outcome", "deferred")
            await self.deferred(run.job, msg, deferred, time.monotonic() - began, run.logs.take())
        except LeaseLost as lost:
            span.set_attribute("dtq.outcome", "lease lost")
            raise BackendUnavailable(str(lost)) from None  # abandoned; taken over later
        except BackendUnavailable:
            raise
        except Exception as exc:  # the handler failed: record it, maybe retry
            span.record_exception(exc)
            span.set_status(trace.StatusCode.ERROR, f"{type(exc).__name__}: {exc}")
            await self.failed(run.job, msg, exc, time.monotonic() - began, run.logs.take())
        else:
            span.set_attribute("dtq.outcome", "completed")
            await self.completed(run.job, msg, result, time.monotonic() - began, run.logs.take())

    async def finish(
        self,
        job: Job,
        state: JobState,
        logs: Sequence[LogLine] = (),
        *,
        failure: JobError | None = None,
        **changes: Any,
    ) -> bool | None:
        """Settle this attempt in ``state``, with the log lines its run had not stored
        yet and its ``failure`` added to the job's errors as stored now (not as this run
        read them); False if it was settled elsewhere meanwhile. If the next attempt
        started before this write (its message was due before this attempt's retrying
        write landed), this attempt's failure is still recorded on the job: None."""
        attempt, holder = job.attempt, job.lease_holder
        now = self.clock()
        settled: bool | None = False

        def change(current: Job) -> Job | None:
            nonlocal settled
            settled = running_attempt(current, attempt, holder)
            failed = {} if failure is None else {"errors": current.with_error(failure)}
            if settled:
                extra = {"error": failure} if failure is not None else {}
                return current.moved_to(state, now=now, **changes, **failed, **extra).with_logs(
                    logs
                )
            mine = failure is not None and any(e.attempt == attempt for e in current.errors)
            if failure is not None and current.attempt > attempt and not mine:
                settled = None
                return current.model_copy(update=failed)  # a later attempt runs: keep ours
            return None  # someone else settled this attempt (e.g. took it over)

        stored, _ = await guarded_update(self.status, job.tenant_id, job.job_id, change, known=job)
        if not settled:
            log.info(
                "job %s attempt %d was settled elsewhere (%s)", job.job_id, attempt, stored.state
            )
        elif self.cap is not None:
            await self.cap.release(job)
        return settled

    async def cancelled(self, job: Job, elapsed: float, logs: Sequence[LogLine] = ()) -> None:
        if await self.finish(job, JobState.CANCELLED, logs, stage="cancelled"):
            self.metrics.finished(job.job_type, "cancelled", elapsed)

    async def completed(
        self, job: Job, msg: JobMessage, result: Any, elapsed: float, logs: Sequence[LogLine] = ()
    ) -> None:
        try:
            written = await self.results.put(job.job_id, job.tenant_id, result)
        except TooLarge as exc:
            # Storing it can never succeed: the attempt fails for good, not retried.
            limit = f"{exc.limit:,} bytes" if exc.limit else "what the result store keeps"
            failure = ResultTooLarge(f"the job's result is too large to keep ({limit}): {exc}")
            await self.failed(job, msg, failure, elapsed, logs)
            return
        if not written:
            log.info("job %s already had a result; the first one is kept", job.job_id)
        if await self.finish(job, JobState.COMPLETED, logs, stage="completed", error=None):
            self.metrics.finished(job.job_type, "completed", elapsed)
            log.info("job %s completed", job.job_id)

    async def deferred(
        self,
        job: Job,
        msg: JobMessage,
        deferred: JobDeferred,
        elapsed: float,
        logs: Sequence[LogLine] = (),
    ) -> None:
        """Give the attempt back unspent: send it again, due after the wait (with a
        little jitter, so deferred jobs do not come back in one wave), then record the
        job ``scheduled`` with the attempt before it, so that the copy starts it."""
        wait = min(deferred.seconds, self.backoffs.retry.retry_after_max_seconds)
        wait += (self.backoffs.rng or random).uniform(0, min(30.0, 0.1 * wait))
        due = self.clock() + timedelta(seconds=wait)
        copy_id = f"{msg.message_id}.d{round(due.timestamp() * 1000)}"
        await self.queues[job.priority].send([msg.outgoing(scheduled_at=due, message_id=copy_id)])
        if await self.finish(
            job,
            JobState.SCHEDULED,
            logs,
            attempt=job.attempt - 1,
            next_attempt_at=due,
            progress=0,
            stage=f"deferred: {deferred.message}",
        ):
            self.metrics.finished(job.job_type, "deferred", elapsed)
        log.info("job %s attempt %d deferred to %s: %s", job.job_id, job.attempt, due, deferred)

    async def failed(
        self,
        job: Job,
        msg: JobMessage,
        exc: BaseException,
        elapsed: float,
        logs: Sequence[LogLine] = (),
    ) -> None:
        """Retry the job if ``exc`` is retryable and it has attempts left; else fail it
        for good, with its dead-letter record."""
        now = self.clock()
        retryable, message, retry_after, reason = classify(exc)
        error = job.failure(type(exc).__name__, message, retryable=retryable, now=now)
        if retryable and job.attempt < job.max_attempts:
            delay = self.backoffs.retry.delay(job.attempt, retry_after, rng=self.backoffs.rng)
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
            retried = await self.finish(
                job,
                JobState.RETRYING,
                logs,
                failure=error,
                next_attempt_at=due,
                stage=f"retrying in {delay:.1f}s",
            )
            if retried is not False:  # also when the retry's attempt overtook this write
                self.metrics.finished(job.job_type, "retried", elapsed)
            log.warning(
                "job %s attempt %d failed, retry at %s: %s", job.job_id, job.attempt, due, message
            )
        else:
            if retryable:
                reason = "MaxAttemptsExceeded"
                message = f"attempt {job.attempt} of {job.max_attempts} failed: {message}"
            dead = DeadLetter(reason=reason, description=message, at=now)
            if await self.finish(
                job,
                JobState.FAILED,
                logs,
                failure=error,
                stage="failed",
                dead_letter=dead,
            ):
                self.metrics.finished(job.job_type, "failed", elapsed, reason)
                log.warning("job %s failed (%s): %s", job.job_id, reason, message)
