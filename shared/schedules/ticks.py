"""The tick runner the ``fire_schedules`` timer calls: for each due schedule, the ticks
its misfire policy keeps, each claimed in the store and turned into exactly one job
(docs/schedules.md, "Guarantees").

A tick's job is submitted with ``Submissions.submit_once`` under an idempotency key made
of the schedule and the tick, so a runner that takes over a claim whose runner died
between claiming and recording gets the job that runner made, if it made one, rather
than a second. The schedule is advanced (its next fire time) only after each of its
ticks is recorded; a failure leaves it due, and the next run tries again."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from shared.errors import NotFound, PreconditionFailed
from shared.ports import StatusStore
from shared.schedules.model import Misfire, Overlap, Schedule, TickClaim, TickOutcome
from shared.schedules.port import ScheduleStore
from shared.schedules.timing import Timing
from shared.submissions import Submission, Submissions

log = logging.getLogger(__name__)

#: A claim not recorded after this long belongs to a runner that died: taken over.
CLAIM_TIMEOUT = timedelta(seconds=30)
#: Most ticks of one schedule handled in one run (a schedule late by more keeps due).
MAX_TICKS = 100


def timing_of(s: Schedule) -> Timing:
    return Timing(
        cron=s.cron,
        interval_seconds=s.interval_seconds,
        timezone=s.timezone,
        anchor=s.created_at,
        start_at=s.start_at,
        end_at=s.end_at,
    )


def submission_of(s: Schedule) -> Submission:
    t = s.template
    return Submission(
        t.job_type,
        t.payload,
        max_attempts=t.max_attempts,
        timeout_seconds=t.timeout_seconds,
        priority=t.priority,
    )


def tick_key(s: Schedule, tick: datetime) -> str:
    """The idempotency key of a tick's job (what makes a retried submit the same job)."""
    return f"dtq.schedule.{s.schedule_id}.{int(tick.timestamp() * 1_000_000)}"


class ScheduleTicks:
    def __init__(
        self,
        *,
        store: ScheduleStore,
        submissions: Submissions,
        status: StatusStore,
        misfire_grace_seconds: float = 120.0,
        clock: Callable[[], datetime] | None = None,
        holder: str | None = None,
        batch: int = 100,
    ) -> None:
        self.store = store
        self.submissions = submissions
        self.status = status
        self.grace = timedelta(seconds=misfire_grace_seconds)
        self.clock = clock or submissions.clock
        self.holder = holder or uuid.uuid4().hex[:12]
        self.batch = batch

    async def run(self) -> int:
        """Fire every due schedule; the number of jobs this runner submitted."""
        now = self.clock()
        made = 0
        for s in await self.store.due(now, self.batch):
            try:
                made += await self.fire(s, now)
            except Exception:  # one schedule's trouble stops no other; it stays due
                log.exception("schedule %s of %s: ticks not fired", s.schedule_id, s.tenant_id)
        return made

    def chosen(self, s: Schedule, timing: Timing, now: datetime) -> list[datetime]:
        """The due ticks the misfire policy runs: those late by at most the grace; and
        with ``run_once``, if none is, the latest missed one standing for all of them."""
        assert s.next_fire_at is not None
        cutoff = now - self.grace
        on_time = timing.between(max(s.next_fire_at, cutoff), now, MAX_TICKS)
        if on_time or s.misfire is Misfire.SKIP or s.next_fire_at >= cutoff:
            return on_time
        latest = timing.latest_at_or_before(cutoff - timedelta(microseconds=1), s.next_fire_at)
        return [latest] if latest is not None else []

    async def fire(self, s: Schedule, now: datetime) -> int:
        timing = timing_of(s)
        made = 0
        last_job, last_tick = s.last_job_id, s.last_tick_at
        for tick in self.chosen(s, timing, now):
            claim, ours = await self._tick(s, tick, now, last_job)
            if claim.outcome is TickOutcome.CLAIMED:
                # Another runner holds it and has not recorded it yet: that runner
                # advances the schedule; if it died, the next run takes its claim over.
                return made
            if claim.outcome is TickOutcome.SUBMITTED:
                made += ours
                last_job = claim.job_id
            last_tick = tick
        advanced = s.model_copy(
            update={
                "next_fire_at": timing.next_after(now),
                "last_tick_at": last_tick,
                "last_job_id": last_job,
            }
        )
        # Failing: another runner advanced it, or its owner changed or deleted it.
        with contextlib.suppress(PreconditionFailed, NotFound):
            await self.store.replace(advanced)
        return made

    async def _tick(
        self, s: Schedule, tick: datetime, now: datetime, last_job: str | None
    ) -> tuple[TickClaim, bool]:
        """Claim ``tick`` and make its job: the claim as recorded, and whether this runner
        recorded it (if not, the claim as another runner left it)."""
        claim = await self.store.claim_tick(
            TickClaim(s.tenant_id, s.schedule_id, tick, now, self.holder)
        )
        if not claim.created:
            stale = claim.outcome is TickOutcome.CLAIMED and claim.claimed_at <= now - CLAIM_TIMEOUT
            if not stale:
                return claim, False
            log.warning("schedule %s: taking over the claim of tick %s", s.schedule_id, tick)
        if s.overlap is Overlap.SKIP and last_job and not await self._ended(s, last_job):
            done = TickClaim(
                s.tenant_id, s.schedule_id, tick, now, self.holder, TickOutcome.SKIPPED
            )
        else:
            job, _ = await self.submissions.submit_once(
                s.tenant_id, submission_of(s), tick_key(s, tick)
            )
            done = TickClaim(
                s.tenant_id,
                s.schedule_id,
                tick,
                now,
                self.holder,
                TickOutcome.SUBMITTED,
                job.job_id,
            )
        await self.store.record_tick(done)
        return done, True

    async def _ended(self, s: Schedule, job_id: str) -> bool:
        try:
            return (await self.status.get(s.tenant_id, job_id)).terminal
        except NotFound:
            return True  # purged: long over
