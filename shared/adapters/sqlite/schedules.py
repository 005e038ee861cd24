"""Schedules and their tick claims on SQLite (shared.schedules.port.ScheduleStore).
The due schedules are one range read of an index on the next fire time; a tick claim is
an INSERT OR IGNORE on its primary key (schedule, tick), so it is stored once."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, datetime, timedelta

from shared.adapters.sqlite.database import Database
from shared.errors import Conflict, NotFound, PreconditionFailed
from shared.ports import Page
from shared.schedules.model import Schedule, TickClaim, TickOutcome

SCHEMA = """
CREATE TABLE IF NOT EXISTS schedules (
    tenant_id TEXT NOT NULL,
    schedule_id TEXT NOT NULL,
    etag TEXT NOT NULL,
    next_fire_us INTEGER,
    body TEXT NOT NULL,
    PRIMARY KEY (tenant_id, schedule_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS schedules_due ON schedules (next_fire_us)
    WHERE next_fire_us IS NOT NULL;
CREATE TABLE IF NOT EXISTS schedule_ticks (
    tenant_id TEXT NOT NULL,
    schedule_id TEXT NOT NULL,
    tick_us INTEGER NOT NULL,
    claimed_us INTEGER NOT NULL,
    holder TEXT NOT NULL,
    outcome TEXT NOT NULL,
    job_id TEXT,
    PRIMARY KEY (tenant_id, schedule_id, tick_us)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS schedule_ticks_by_tick ON schedule_ticks (tick_us)
"""

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(at: datetime) -> int:
    return (at - EPOCH) // timedelta(microseconds=1)


def at_micros(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def _schedule(row: sqlite3.Row) -> Schedule:
    return Schedule.model_validate_json(row["body"]).model_copy(update={"etag": row["etag"]})


def _tick(row: sqlite3.Row, created: bool = False) -> TickClaim:
    return TickClaim(
        tenant_id=row["tenant_id"],
        schedule_id=row["schedule_id"],
        tick_at=at_micros(row["tick_us"]),
        claimed_at=at_micros(row["claimed_us"]),
        holder=row["holder"],
        outcome=TickOutcome(row["outcome"]),
        job_id=row["job_id"],
        created=created,
    )


def _next_us(schedule: Schedule) -> int | None:
    return None if schedule.next_fire_at is None else micros(schedule.next_fire_at)


class SqliteScheduleStore:
    """See :class:`shared.schedules.port.ScheduleStore`."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.ensure_schema("schedules", SCHEMA)

    async def create(self, schedule: Schedule) -> Schedule:
        etag = uuid.uuid4().hex
        try:
            await self.db.write(
                lambda conn: conn.execute(
                    "INSERT INTO schedules VALUES (?, ?, ?, ?, ?)",
                    (
                        schedule.tenant_id,
                        schedule.schedule_id,
                        etag,
                        _next_us(schedule),
                        schedule.body(),
                    ),
                )
            )
        except sqlite3.IntegrityError:
            raise Conflict(f"schedule {schedule.schedule_id} exists") from None
        return schedule.model_copy(update={"etag": etag})

    async def get(self, tenant_id: str, schedule_id: str) -> Schedule:
        row = await self.db.read(
            lambda conn: conn.execute(
                "SELECT * FROM schedules WHERE tenant_id = ? AND schedule_id = ?",
                (tenant_id, schedule_id),
            ).fetchone()
        )
        if row is None:
            raise NotFound(f"schedule {schedule_id} not found")
        return _schedule(row)

    async def list_schedules(
        self, tenant_id: str, limit: int, cursor: str | None = None
    ) -> Page[Schedule]:
        rows = await self.db.read(
            lambda conn: conn.execute(
                "SELECT * FROM schedules WHERE tenant_id = ? AND schedule_id > ?"
                " ORDER BY schedule_id LIMIT ?",
                (tenant_id, cursor or "", limit + 1),
            ).fetchall()
        )
        items = [_schedule(r) for r in rows[:limit]]
        more = len(rows) > limit
        return Page(items, items[-1].schedule_id if more and items else None)

    async def replace(self, schedule: Schedule) -> Schedule:
        if schedule.etag is None:
            raise PreconditionFailed("replace needs the etag of the version it read")
        return await self.db.write(self._replace, schedule)

    @staticmethod
    def _replace(conn: sqlite3.Connection, schedule: Schedule) -> Schedule:
        etag = uuid.uuid4().hex
        done = conn.execute(
            "UPDATE schedules SET etag = ?, next_fire_us = ?, body = ?"
            " WHERE tenant_id = ? AND schedule_id = ? AND etag = ?",
            (
                etag,
                _next_us(schedule),
                schedule.body(),
                schedule.tenant_id,
                schedule.schedule_id,
                schedule.etag,
            ),
        )
        if done.rowcount == 1:
            return schedule.model_copy(update={"etag": etag})
        exists = conn.execute(
            "SELECT 1 FROM schedules WHERE tenant_id = ? AND schedule_id = ?",
            (schedule.tenant_id, schedule.schedule_id),
        ).fetchone()
        if exists is None:
            raise NotFound(f"schedule {schedule.schedule_id} not found")
        raise PreconditionFailed(f"schedule {schedule.schedule_id} changed since it was read")

    async def delete(self, tenant_id: str, schedule_id: str) -> None:
        await self.db.write(
            lambda conn: conn.execute(
                "DELETE FROM schedules WHERE tenant_id = ? AND schedule_id = ?",
                (tenant_id, schedule_id),
            )
        )

    async def due(self, before: datetime, limit: int) -> list[Schedule]:
        rows = await self.db.read(
            lambda conn: conn.execute(
                "SELECT * FROM schedules WHERE next_fire_us IS NOT NULL AND next_fire_us <= ?"
                " ORDER BY next_fire_us LIMIT ?",
                (micros(before), limit),
            ).fetchall()
        )
        return [_schedule(r) for r in rows]

    async def claim_tick(self, claim: TickClaim) -> TickClaim:
        return await self.db.write(self._claim, claim)

    @staticmethod
    def _claim(conn: sqlite3.Connection, claim: TickClaim) -> TickClaim:
        key = (claim.tenant_id, claim.schedule_id, micros(claim.tick_at))
        done = conn.execute(
            "INSERT OR IGNORE INTO schedule_ticks VALUES (?, ?, ?, ?, ?, ?, ?)",
            (*key, micros(claim.claimed_at), claim.holder, claim.outcome.value, claim.job_id),
        )
        row = conn.execute(
            "SELECT * FROM schedule_ticks WHERE tenant_id = ? AND schedule_id = ? AND tick_us = ?",
            key,
        ).fetchone()
        return _tick(row, created=done.rowcount == 1)

    async def record_tick(self, claim: TickClaim) -> None:
        await self.db.write(
            lambda conn: conn.execute(
                "UPDATE schedule_ticks SET outcome = ?, job_id = ?, holder = ?, claimed_us = ?"
                " WHERE tenant_id = ? AND schedule_id = ? AND tick_us = ?",
                (
                    claim.outcome.value,
                    claim.job_id,
                    claim.holder,
                    micros(claim.claimed_at),
                    claim.tenant_id,
                    claim.schedule_id,
                    micros(claim.tick_at),
                ),
            )
        )

    async def ticks(self, tenant_id: str, schedule_id: str, limit: int) -> list[TickClaim]:
        rows = await self.db.read(
            lambda conn: conn.execute(
                "SELECT * FROM schedule_ticks WHERE tenant_id = ? AND schedule_id = ?"
                " ORDER BY tick_us DESC LIMIT ?",
                (tenant_id, schedule_id, limit),
            ).fetchall()
        )
        return [_tick(r) for r in rows]

    async def purge_ticks(self, before: datetime, limit: int) -> int:
        done = await self.db.write(
            lambda conn: conn.execute(
                "DELETE FROM schedule_ticks WHERE (tenant_id, schedule_id, tick_us) IN"
                " (SELECT tenant_id, schedule_id, tick_us FROM schedule_ticks"
                " WHERE tick_us < ? LIMIT ?)",
                (micros(before), limit),
            )
        )
        return int(done.rowcount)

    async def close(self) -> None:
        return None
