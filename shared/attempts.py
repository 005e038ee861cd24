"""The attempt runner: one attempt of one job, once a delivery has started it.

The worker (shared/worker.py) decides what a delivery means and, when it starts or
takes over an attempt, hands the job to an :class:`AttemptRun`, which calls the job
type's handler with a :class:`~shared.jobtypes.JobContext` and, while it runs, keeps
its lease:

- it renews the lease on the job record (``lease_until``, under its own
  ``lease_holder`` token) every ``lease_renew_seconds``, and each progress report
  renews it too;
- between renewals it reads the job every ``cancel_check_seconds`` (0: only at progress
  reports); a job cancelled, settled or taken over elsewhere (a renewal that finds
  another holder) stops the handler at its current await;
- it buffers the lines the handler logs (``ctx.log``) and stores them with its next
  write, or within a second with a renewal of its own (shared/job_logs.py);
- a run that cannot renew (the status store is down) stops its handler one renew
  interval before its lease would lapse, so that two runs never overlap;
- the handler runs within the job's time limit and the deployment's.

:meth:`AttemptRun.execute` returns the handler's result or raises what became of the
attempt: :class:`~shared.jobtypes.errors.JobCancelled`,
:class:`~shared.jobtypes.errors.JobDeferred`, :class:`~shared.jobtypes.errors.JobTimedOut`,
:class:`LeaseLost`, :class:`~shared.control.PoisonJob` (an unknown job type or a payload
that no longer validates), :class:`~shared.errors.BackendUnavailable`, or the handler's
own exception. A :class:`~shared.settling.Settler` settles the attempt from that;
:meth:`AttemptRun.give_back` ends the lease early when the message goes back to the
queue instead. :func:`lease_live` tells a delivery of a running attempt whether a run
still holds its lease (the worker then defers the delivery to the lease's end).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.control import PoisonJob
from shared.errors import BackendUnavailable, PreconditionFailed, ValidationFailed
from shared.guarded import guarded_update
from shared.job_logs import LogBuffer
from shared.jobs import Job, JobState, utcnow
from shared.jobtypes import JobContext, JobTypeRegistry
from shared.jobtypes.errors import JobCancelled, JobTimedOut
from shared.messages import Delivery
from shared.ports import StatusStore

log = logging.getLogger(__name__)


def running_attempt(job: Job, attempt: int, holder: str | None = None) -> bool:
    """Whether ``job`` is still running ``attempt`` (not settled, nor moved on elsewhere),
    under the lease of ``holder`` when given."""
    return (
        job.state is JobState.RUNNING
        and job.attempt == attempt
        and (holder is None or job.lease_holder == holder)
    )


def should_stop(job: Job, attempt: int, holder: str | None = None) -> bool:
    """Whether the run of ``attempt`` holding ``holder``'s lease should stop: the job was
    cancelled, or settled or taken over elsewhere."""
    return not running_attempt(job, attempt, holder) or job.cancel_requested_at is not None


def lease_live(job: Job, delivery: Delivery, now: datetime) -> bool:
    """Whether another run holds ``job``'s running attempt, as far as ``delivery`` can
    tell: its lease has not lapsed, and this is not the copy sent to wait for exactly
    that lease's end (finding the same lease then means its holder stopped renewing,
    whatever this machine's clock says)."""
    until = job.lease_until
    if until is None or until <= now:
        return False
    return delivery.message_id != delivery.message.lease_copy_id(until)


class LeaseLost(Exception):
    """The run could not renew its lease before it would lapse (the status store is
    unreachable): it stopped, and another delivery will take the attempt over."""


@dataclass(frozen=True)
class RunTiming:
    """The clock the worker and its runs read, how long a run's lease lasts and how it
    is kept (see shared.jobs.lease_timing), and how long an attempt may run."""

    #: A running attempt's lease, and how often its run renews it.
    lease_seconds: float
    lease_renew_seconds: float
    #: How often a running job's status is read to see a cancellation (0: only at
    #: progress reports).
    cancel_check_seconds: float = 2.0
    #: The deployment's longest attempt; past it the handler is cancelled (a retryable
    #: error).
    timeout_seconds: float | None = None
    #: The current time, for every time the worker and its runs store (fixed in tests).
    clock: Callable[[], datetime] = utcnow


class AttemptRun:
    """One attempt of one job: the handler call, its progress reports, and its lease."""

    def __init__(
        self,
        job: Job,
        *,
        status: StatusStore,
        registry: JobTypeRegistry,
        timing: RunTiming,
    ) -> None:
        self.job = job
        self.status = status
        self.registry = registry
        self.timing = timing
        #: The lease this run holds (written by the delivery that started it).
        self.holder = job.lease_holder
        #: When (monotonic) the lease was last written: at most lease_seconds ago.
        self.renewed_at = time.monotonic()
        #: Set when the watcher stopped the handler (cancelled, or settled elsewhere).
        self.stopped = False
        #: Set when the watcher stopped the handler because the lease could not be renewed.
        self.lease_lost = False
        #: Lines the handler logged, not stored yet: flushed by a renewal of the lease.
        self.logs = LogBuffer(timing.clock, self._flush_logs)

    async def execute(self) -> Any:
        try:
            job_type = self.registry.get(self.job.job_type)
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
            _log=self.logs.add,
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
            if self.lease_lost:
                raise LeaseLost(
                    f"job {self.job.job_id} attempt {self.job.attempt}: its lease could not"
                    f" be renewed for {time.monotonic() - self.renewed_at:.0f}s; stopped"
                ) from None
            if self.stopped:
                raise JobCancelled(f"job {self.job.job_id} was cancelled") from None
            raise
        finally:
            watcher.cancel()
            if not handler.done():
                handler.cancel()
                with contextlib.suppress(BaseException):
                    await handler
            await self.logs.close()  # what is left goes with the attempt's outcome

    def _time_limit(self) -> float | None:
        """The job's own timeout, within the deployment's limit."""
        limits = [t for t in (self.job.timeout_seconds, self.timing.timeout_seconds) if t]
        return min(limits) if limits else None

    async def report(self, progress: int, stage: str | None) -> bool:
        """Store progress; True when this attempt should stop (the job was settled or
        moved on elsewhere, e.g. cancelled or taken over after a lost lock)."""
        attempt = self.job.attempt
        now = self.timing.clock()
        written = time.monotonic()
        until = now + timedelta(seconds=self.timing.lease_seconds)
        lines = self.logs.take()

        def change(current: Job) -> Job | None:
            if should_stop(current, attempt, self.holder):
                return None
            return (
                current.with_progress(progress, stage, now=now).with_lease(until).with_logs(lines)
            )

        try:
            stored, changed = await guarded_update(
                self.status, self.job.tenant_id, self.job.job_id, change, known=self.job
            )
        except PreconditionFailed:
            self.logs.restore(lines)
            return False  # heavy contention on one job: skip this report, keep running
        except BaseException:
            self.logs.restore(lines)
            raise
        if should_stop(stored, attempt, self.holder):
            return True
        if changed:
            self.renewed_at = written  # a progress report renews the lease too
        self.job = stored
        return False

    async def renew(self, seconds: float | None = None) -> Job:
        """Move this run's lease to ``seconds`` from now (default: a full lease; 0 gives
        it back), if the run still holds it; the stored job either way."""
        attempt = self.job.attempt
        written = time.monotonic()
        lease = self.timing.lease_seconds if seconds is None else seconds
        until = self.timing.clock() + timedelta(seconds=lease)
        lines = self.logs.take()  # a renewal stores the lines logged meanwhile

        def change(current: Job) -> Job | None:
            if not running_attempt(current, attempt, self.holder):
                return None  # settled, or taken over: not this run's lease any more
            return current.with_lease(until).with_logs(lines)

        try:
            stored, changed = await guarded_update(
                self.status, self.job.tenant_id, self.job.job_id, change, known=self.job
            )
        except BaseException:
            self.logs.restore(lines)
            raise
        if changed:
            self.renewed_at = written
            self.job = stored
        return stored

    async def _flush_logs(self) -> None:
        """Store the buffered log lines now, with a renewal (LogBuffer's timer)."""
        if not self.logs.closed:
            await self.renew()

    async def give_back(self) -> None:
        """Best effort: end this run's lease now (its message is going back to the
        queue), so the redelivery takes the attempt over at once."""
        try:
            await asyncio.wait_for(self.renew(seconds=0), timeout=5)
        except Exception as exc:  # the lease then lapses on its own
            log.info("job %s: lease not given back (%r)", self.job.job_id, exc)

    async def _watch(self, handler: asyncio.Future[Any]) -> None:
        """While the handler runs: renew the lease every ``lease_renew_seconds``, and
        between renewals check every ``cancel_check_seconds`` whether the job was
        cancelled (or settled or taken over elsewhere); if so, cancel the handler at its
        current await. If the lease cannot be renewed (the status store is down) until
        one renew interval before it would lapse, stop the handler too: another delivery
        may take the attempt over once it lapses, and two runs must never overlap."""
        renew_every = self.timing.lease_renew_seconds
        check_every = self.timing.cancel_check_seconds or renew_every
        tick = min(check_every, renew_every)
        give_up_after = self.timing.lease_seconds - renew_every
        while not handler.done():
            await asyncio.sleep(tick)
            if handler.done():
                return
            try:
                if time.monotonic() - self.renewed_at >= renew_every - tick / 2:
                    current = await self.renew()
                elif self.timing.cancel_check_seconds:
                    current = await self.status.get(self.job.tenant_id, self.job.job_id)
                else:
                    continue
            except (BackendUnavailable, PreconditionFailed) as exc:
                if time.monotonic() - self.renewed_at >= give_up_after:
                    log.warning(
                        "job %s attempt %d: lease not renewed (%s); stopping the run",
                        self.job.job_id,
                        self.job.attempt,
                        exc,
                    )
                    self.lease_lost = True
                    handler.cancel()
                    return
                continue  # the next renewal or check will tell
            if should_stop(current, self.job.attempt, self.holder):
                self.stopped = True
                handler.cancel()
                return
