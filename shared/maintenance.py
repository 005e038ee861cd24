"""What the timers keep in order: :class:`Retention` deletes what is past its time, and
:class:`Reconciler` fails the jobs whose message the queue dead-lettered on its own."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from shared.errors import NotFound, ValidationFailed
from shared.guarded import guarded_update
from shared.jobs import DeadLetter, Job, JobState, utcnow
from shared.messages import JobMessage
from shared.metrics import Metrics
from shared.ports import (
    IdempotencyKeys,
    JobQueue,
    RateCounters,
    ReceivedMessage,
    ResultStore,
    StatusStore,
)
from shared.priorities import PriorityQueues
from shared.schedules.port import ScheduleStore

log = logging.getLogger(__name__)

#: Rows one retention step deletes at most (it repeats until none is left).
RETENTION_BATCH = 500


class Retention:
    def __init__(
        self,
        *,
        status: StatusStore,
        results: ResultStore,
        keys: IdempotencyKeys | None = None,
        rates: RateCounters | None = None,
        schedules: ScheduleStore | None = None,
        retention_seconds: float = 7 * 86400.0,
        result_ttl_seconds: float = 7 * 86400.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.status = status
        self.results = results
        self.keys = keys
        self.rates = rates
        self.schedules = schedules
        self.retention = timedelta(seconds=retention_seconds)
        self.result_ttl = timedelta(seconds=result_ttl_seconds)
        self.clock = clock

    async def apply(self, batch: int = RETENTION_BATCH) -> dict[str, int]:
        """Delete finished jobs older than the retention period, results older than
        their TTL (stores without TTL of their own), expired idempotency keys, old rate
        counters and the claims of schedule ticks older than the retention period, in
        batches until none is left. Run by the retention timer."""
        now = self.clock()
        names = ("jobs", "results", "idempotency_keys", "rate_counters", "schedule_ticks")
        purged = dict.fromkeys(names, 0)

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
        if self.schedules is not None:
            ticks = self.schedules  # a tick's claim lives as long as the job it made
            await drain("schedule_ticks", lambda: ticks.purge_ticks(now - self.retention, batch))
        return purged


class Reconciler:
    def __init__(
        self,
        *,
        status: StatusStore,
        queue: JobQueue | PriorityQueues,
        clock: Callable[[], datetime] = utcnow,
        metrics: Metrics | None = None,
    ) -> None:
        self.status = status
        self.queues = PriorityQueues.of(queue)
        self.clock = clock
        self.metrics = metrics or Metrics()

    async def reconcile(self, batch: int = 100) -> int:
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
