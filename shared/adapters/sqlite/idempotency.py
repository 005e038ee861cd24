"""Idempotency keys on SQLite: one row per (tenant, key), claimed in one write."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from shared.adapters.sqlite.database import Database
from shared.ports import IdempotencyRecord

SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency_keys (
    tenant_id TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    job_id TEXT NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (tenant_id, key)
) WITHOUT ROWID
"""


class SqliteIdempotencyKeys:
    """See :class:`shared.ports.IdempotencyKeys`."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.ensure_schema("idempotency", SCHEMA)

    async def claim(
        self,
        tenant_id: str,
        key: str,
        request_hash: str,
        job_id: str,
        expires_at: datetime,
        now: datetime,
    ) -> IdempotencyRecord:
        return await self.db.write(
            self._claim,
            tenant_id,
            key,
            request_hash,
            job_id,
            expires_at.timestamp(),
            now.timestamp(),
        )

    @staticmethod
    def _claim(
        conn: sqlite3.Connection,
        tenant_id: str,
        key: str,
        request_hash: str,
        job_id: str,
        expires_at: float,
        now: float,
    ) -> IdempotencyRecord:
        # Inside a write transaction (BEGIN IMMEDIATE holds the file's write lock), so
        # this read-then-write is atomic across threads and processes.
        row = conn.execute(
            "SELECT request_hash, job_id, expires_at FROM idempotency_keys"
            " WHERE tenant_id = ? AND key = ?",
            (tenant_id, key),
        ).fetchone()
        if row is not None and row["expires_at"] > now:
            return IdempotencyRecord(
                row["job_id"],
                row["request_hash"],
                datetime.fromtimestamp(row["expires_at"], UTC),
                created=False,
            )
        conn.execute(
            "INSERT OR REPLACE INTO idempotency_keys"
            " (tenant_id, key, request_hash, job_id, expires_at) VALUES (?, ?, ?, ?, ?)",
            (tenant_id, key, request_hash, job_id, expires_at),
        )
        return IdempotencyRecord(
            job_id, request_hash, datetime.fromtimestamp(expires_at, UTC), created=True
        )

    async def release(self, tenant_id: str, key: str, job_id: str) -> None:
        await self.db.write(self._release, tenant_id, key, job_id)

    @staticmethod
    def _release(conn: sqlite3.Connection, tenant_id: str, key: str, job_id: str) -> None:
        conn.execute(
            "DELETE FROM idempotency_keys WHERE tenant_id = ? AND key = ? AND job_id = ?",
            (tenant_id, key, job_id),
        )

    async def purge_expired(self, now: datetime, limit: int) -> int:
        return await self.db.write(self._purge, now.timestamp(), limit)

    @staticmethod
    def _purge(conn: sqlite3.Connection, now: float, limit: int) -> int:
        cur = conn.execute(
            "DELETE FROM idempotency_keys WHERE (tenant_id, key) IN"
            " (SELECT tenant_id, key FROM idempotency_keys WHERE expires_at < ? LIMIT ?)",
            (now, limit),
        )
        return cur.rowcount

    async def close(self) -> None:
        return None
