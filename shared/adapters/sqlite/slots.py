"""Running-job slots on SQLite: one row per (tenant, job) holding a slot, with a lease;
acquired in one write transaction."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from shared.adapters.sqlite.database import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS run_slots (
    tenant_id TEXT NOT NULL,
    job_id TEXT NOT NULL,
    lease_until REAL NOT NULL,
    PRIMARY KEY (tenant_id, job_id)
) WITHOUT ROWID
"""


class SqliteRunSlots:
    """See :class:`shared.ports.RunSlots`."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.ensure_schema("run_slots", SCHEMA)

    async def acquire(
        self, tenant_id: str, job_id: str, cap: int, lease_until: datetime, now: datetime
    ) -> bool:
        return await self.db.write(
            self._acquire, tenant_id, job_id, cap, lease_until.timestamp(), now.timestamp()
        )

    @staticmethod
    def _acquire(
        conn: sqlite3.Connection, tenant_id: str, job_id: str, cap: int, until: float, now: float
    ) -> bool:
        conn.execute(
            "DELETE FROM run_slots WHERE tenant_id = ? AND lease_until < ?", (tenant_id, now)
        )
        held = conn.execute(
            "UPDATE run_slots SET lease_until = ? WHERE tenant_id = ? AND job_id = ?",
            (until, tenant_id, job_id),
        ).rowcount
        if held:
            return True
        (count,) = conn.execute(
            "SELECT COUNT(*) FROM run_slots WHERE tenant_id = ?", (tenant_id,)
        ).fetchone()
        if count >= cap:
            return False
        conn.execute(
            "INSERT INTO run_slots (tenant_id, job_id, lease_until) VALUES (?, ?, ?)",
            (tenant_id, job_id, until),
        )
        return True

    async def release(self, tenant_id: str, job_id: str) -> None:
        await self.db.write(self._release, tenant_id, job_id)

    @staticmethod
    def _release(conn: sqlite3.Connection, tenant_id: str, job_id: str) -> None:
        conn.execute(
            "DELETE FROM run_slots WHERE tenant_id = ? AND job_id = ?", (tenant_id, job_id)
        )

    async def close(self) -> None:
        return None
