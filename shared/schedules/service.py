"""``Schedules``: what the API does with a tenant's schedules (create, read, list,
change, pause, resume, delete; the next fire times and the jobs made), and the tick
runner the timer calls (``fire_due``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.constants import MAX_PAGE_SIZE
from shared.errors import FieldError, PreconditionFailed, ValidationFailed
from shared.job_ids import new_job_id
from shared.ports import Page, StatusStore
from shared.schedules.model import Schedule, TickClaim
from shared.schedules.port import ScheduleStore
from shared.schedules.ticks import ScheduleTicks, submission_of, timing_of
from shared.settings import Settings
from shared.submissions import Submissions

#: Most next fire times a preview shows.
MAX_PREVIEW = 50

#: The fields whose change moves the next fire time.
TIMING_FIELDS = frozenset({"cron", "interval_seconds", "timezone", "start_at", "end_at"})


class Schedules:
    def __init__(
        self,
        *,
        store: ScheduleStore,
        submissions: Submissions,
        status: StatusStore,
        misfire_grace_seconds: float = 120.0,
    ) -> None:
        self.store = store
        self.submissions = submissions
        self.clock = submissions.clock
        self.ticks = ScheduleTicks(
            store=store,
            submissions=submissions,
            status=status,
            misfire_grace_seconds=misfire_grace_seconds,
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, store: ScheduleStore, submissions: Submissions, status: StatusStore
    ) -> Schedules:
        grace = settings.schedule_misfire_grace_seconds
        return cls(store=store, submissions=submissions, status=status, misfire_grace_seconds=grace)

    def _checked(self, s: Schedule, now: datetime, move: bool) -> Schedule:
        """``s`` if its timing and template are valid (ValidationFailed naming the
        fields if not), with its next fire time worked out again when ``move``."""
        errors: list[FieldError] = []
        try:
            timing = timing_of(s)
        except ValueError as exc:
            field = "timezone" if "time zone" in str(exc) else "interval_seconds"
            if s.cron is not None and "time zone" not in str(exc):
                field = "cron"
            errors.append(FieldError(field, str(exc)))
        try:  # the template is validated as a submission of it would be
            self.submissions.rules.new_job(s.tenant_id, submission_of(s))
        except ValidationFailed as exc:
            errors.extend(FieldError(f"template.{e.field}", e.message) for e in exc.errors)
            if not exc.errors:
                errors.append(FieldError("template", exc.detail))
        if s.start_at and s.end_at and s.end_at <= s.start_at:
            errors.append(FieldError("end_at", "must be after start_at"))
        if errors:
            raise ValidationFailed("the schedule is not valid", errors)
        if not move:
            return s
        next_fire = None if s.paused else timing.next_after(now)
        return s.model_copy(update={"next_fire_at": next_fire})

    async def create(self, tenant_id: str, fields: dict[str, Any]) -> Schedule:
        now = self.clock()
        draft = Schedule(
            tenant_id=tenant_id,
            schedule_id=new_job_id(),
            created_at=now,
            updated_at=now,
            **fields,
        )
        return await self.store.create(self._checked(draft, now, move=True))

    async def get(self, tenant_id: str, schedule_id: str) -> Schedule:
        return await self.store.get(tenant_id, schedule_id)

    async def list_schedules(
        self, tenant_id: str, limit: int, cursor: str | None = None
    ) -> Page[Schedule]:
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise ValidationFailed(
                "limit is out of range", [FieldError("limit", f"must be 1 to {MAX_PAGE_SIZE}")]
            )
        return await self.store.list_schedules(tenant_id, limit, cursor)

    async def update(
        self,
        tenant_id: str,
        schedule_id: str,
        changes: dict[str, Any],
        if_match: str | None = None,
    ) -> Schedule:
        """Change some fields; ``if_match``: only if the schedule is still at that etag
        (PreconditionFailed if not). Concurrent changes without it land one after the
        other (a change of the runner is read again)."""
        for _ in range(5):
            current = await self.store.get(tenant_id, schedule_id)
            if if_match is not None and current.etag != if_match:
                raise PreconditionFailed(f"schedule {schedule_id} changed since it was read")
            now = self.clock()
            changed = Schedule.model_validate(
                current.model_dump() | changes | {"updated_at": now}
            ).model_copy(update={"etag": current.etag})
            move = bool(TIMING_FIELDS & changes.keys()) or (
                "paused" in changes and changes["paused"] != current.paused
            )
            try:
                return await self.store.replace(self._checked(changed, now, move))
            except PreconditionFailed:
                if if_match is not None:
                    raise
        raise PreconditionFailed(f"schedule {schedule_id} kept changing; try again")

    async def pause(self, tenant_id: str, schedule_id: str) -> Schedule:
        return await self.update(tenant_id, schedule_id, {"paused": True})

    async def resume(self, tenant_id: str, schedule_id: str) -> Schedule:
        """Resume from now: the ticks of the pause are not made up for."""
        return await self.update(tenant_id, schedule_id, {"paused": False})

    async def delete(self, tenant_id: str, schedule_id: str) -> None:
        await self.store.get(tenant_id, schedule_id)  # NotFound for another tenant's
        await self.store.delete(tenant_id, schedule_id)

    def preview(self, s: Schedule, n: int) -> list[datetime]:
        """The next ``n`` fire times (from its next fire time, or from now if paused)."""
        timing = timing_of(s)
        start = s.next_fire_at or self.clock()
        first = [start] if s.next_fire_at is not None else []
        return (first + timing.upcoming(start, n))[:n]

    async def history(self, tenant_id: str, schedule_id: str, limit: int) -> list[TickClaim]:
        """The schedule's latest ticks (and the jobs they made), newest first."""
        return await self.store.ticks(tenant_id, schedule_id, limit)

    async def fire_due(self) -> int:
        """What the timer runs: the due ticks of every tenant's schedules, as jobs."""
        return await self.ticks.run()

    async def close(self) -> None:
        await self.store.close()
