"""Per-tenant rate counters on SQLite: one row per (tenant, window), added to in one
write transaction.

Unlike Table storage (shared/adapters/azure/table_rates.py), this needs no shards: an add
is one short ``BEGIN IMMEDIATE`` transaction, and SQLite serialises every writer on the
database anyway, so racing submitters queue for the write lock rather than retry, and
splitting the row would remove no waiting. The contract suite races both."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from shared.adapters.sqlite.database import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS rate_counters (
    tenant_id TEXT NOT NULL,
    window_start REAL NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, window_start)
) WITHOUT ROWID
"""


class SqliteRateCounters:
    """See :class:`shared.ports.RateCounters`."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.ensure_schema("rates", SCHEMA)

    async def add(self, tenant_id: str, window: datetime, n: int, limit: int) -> bool:
        return await self.db.write(self._add, tenant_id, window.timestamp(), n, limit)

    @staticmethod
    def _add(conn: sqlite3.Connection, tenant_id: str, window: float, n: int, limit: int) -> bool:
        # Inside the write transaction (BEGIN IMMEDIATE): atomic across processes.
        row = conn.execute(
            "SELECT count FROM rate_counters WHERE tenant_id = ? AND window_start = ?",
            (tenant_id, window),
        ).fetchone()
        current = 0 if row is None else int(row["count"])
        if current + n > limit:
            return False
        conn.execute(
            "INSERT INTO rate_counters (tenant_id, window_start, count) VALUES (?, ?, ?)"
            " ON CONFLICT (tenant_id, window_start) DO UPDATE SET count = count + excluded.count",
            (tenant_id, window, n),
        )
        return True

    async def purge_before(self, window: datetime, limit: int) -> int:
        return await self.db.write(self._purge, window.timestamp(), limit)

    @staticmethod
    def _purge(conn: sqlite3.Connection, window: float, limit: int) -> int:
        cur = conn.execute(
            "DELETE FROM rate_counters WHERE (tenant_id, window_start) IN"
            " (SELECT tenant_id, window_start FROM rate_counters WHERE window_start < ? LIMIT ?)",
            (window, limit),
        )
        return cur.rowcount

    async def close(self) -> None:
        return None
