"""A schedule: when it fires (cron or interval, in a time zone, between optional start
and end), the job each tick submits (``JobTemplate``), and what it does after missed
ticks or while its previous job still runs. ``TickClaim`` is one tick, claimed once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.jobs import Priority


class Misfire(StrEnum):
    #: Ticks missed by more than the grace (a host down, a paused timer) are dropped.
    SKIP = "skip"
    #: Missed ticks are folded into one job, for the latest of them.
    RUN_ONCE = "run_once"


class Overlap(StrEnum):
    #: Every tick submits its job, whatever the previous one is doing.
    ALLOW = "allow"
    #: A tick whose schedule's previous job has not ended is skipped.
    SKIP = "skip"


class JobTemplate(BaseModel):
    """What each tick submits (validated against the job type when stored)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    job_type: str
    payload: dict[str, Any] = Field(default_factory=dict)
    priority: Priority = Priority.NORMAL
    max_attempts: int | None = None
    timeout_seconds: float | None = None


class Schedule(BaseModel):
    model_config = ConfigDict(frozen=True)

    tenant_id: str
    schedule_id: str
    name: str
    #: Five fields (minute first) or six (seconds first, as NCRONTAB) ...
    cron: str | None = None
    #: ... or a fixed interval, counted from ``start_at`` (or the creation time).
    interval_seconds: float | None = None
    #: The IANA time zone the cron expression is read in.
    timezone: str = "UTC"
    start_at: datetime | None = None
    end_at: datetime | None = None
    template: JobTemplate
    misfire: Misfire = Misfire.SKIP
    overlap: Overlap = Overlap.ALLOW
    paused: bool = False
    #: The next tick not yet handled; None while paused or after the end.
    next_fire_at: datetime | None = None
    last_tick_at: datetime | None = None
    last_job_id: str | None = None
    created_at: datetime
    updated_at: datetime
    #: The stored version's tag (not part of the stored body).
    etag: str | None = Field(default=None, exclude=True)

    def body(self) -> str:
        """The stored form (JSON, without the etag)."""
        return self.model_dump_json()


class TickOutcome(StrEnum):
    #: Claimed; its job not yet recorded (a runner that died here is taken over).
    CLAIMED = "claimed"
    SUBMITTED = "submitted"
    #: Skipped by the overlap policy: no job.
    SKIPPED = "skipped"


@dataclass(frozen=True)
class TickClaim:
    """One tick of a schedule. Stored once: the first claim of (schedule, tick) wins."""

    tenant_id: str
    schedule_id: str
    tick_at: datetime
    claimed_at: datetime
    holder: str
    outcome: TickOutcome = TickOutcome.CLAIMED
    job_id: str | None = None
    #: Whether this call stored the claim (not stored).
    created: bool = False
