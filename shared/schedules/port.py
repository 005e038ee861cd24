"""The ScheduleStore port (beside shared/ports.py): schedules, tenant-scoped, replaced
under their ETag like jobs; the due schedules across tenants, earliest first; and tick
claims, a conditional insert per (schedule, tick) that succeeds once whoever races."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

from shared.ports import Page
from shared.schedules.model import Schedule, TickClaim


@runtime_checkable
class ScheduleStore(Protocol):
    async def create(self, schedule: Schedule) -> Schedule:
        """Store a new schedule (with its etag); Conflict if its id is taken."""
        ...

    async def get(self, tenant_id: str, schedule_id: str) -> Schedule:
        """The schedule with its etag; NotFound (also for another tenant's)."""
        ...

    async def list_schedules(
        self, tenant_id: str, limit: int, cursor: str | None = None
    ) -> Page[Schedule]:
        """The tenant's schedules by id (oldest first), a page at a time."""
        ...

    async def replace(self, schedule: Schedule) -> Schedule:
        """Write ``schedule`` over the version its etag names; PreconditionFailed if it
        changed since, NotFound if it is gone."""
        ...

    async def delete(self, tenant_id: str, schedule_id: str) -> None:
        """Remove the schedule (nothing if it is not there)."""
        ...

    async def due(self, before: datetime, limit: int) -> list[Schedule]:
        """Up to ``limit`` schedules of every tenant whose ``next_fire_at`` is at or
        before ``before``, earliest first (costs what it returns)."""
        ...

    async def claim_tick(self, claim: TickClaim) -> TickClaim:
        """Store ``claim`` unless (schedule, tick) is claimed already: the stored claim,
        ``created`` True only for the call that stored it."""
        ...

    async def record_tick(self, claim: TickClaim) -> None:
        """Write the outcome (and job id) of a tick this caller claimed."""
        ...

    async def ticks(self, tenant_id: str, schedule_id: str, limit: int) -> list[TickClaim]:
        """The schedule's latest ticks, newest first."""
        ...

    async def purge_ticks(self, before: datetime, limit: int) -> int:
        """Delete up to ``limit`` tick claims of any schedule (a deleted one's too) whose
        tick is before ``before``; returns how many (retention: reads what it deletes)."""
        ...

    async def close(self) -> None: ...
