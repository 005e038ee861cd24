"""Job results on SQLite, written once per job id."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import UTC, datetime
from typing import Any

from shared.adapters.sqlite.database import Database
from shared.errors import TooLarge
from shared.ports import MAX_RESULT_BYTES, StoredResult, result_json

SCHEMA = """
CREATE TABLE IF NOT EXISTS job_results (
    job_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    result TEXT NOT NULL,
    created_at REAL NOT NULL
) WITHOUT ROWID
"""


class SqliteResultStore:
    """See :class:`shared.ports.ResultStore`."""

    def __init__(self, db: Database, *, max_bytes: int = MAX_RESULT_BYTES) -> None:
        self.db = db
        #: Largest result kept (compact JSON, UTF-8): the same figure as on Cosmos DB.
        self.max_bytes = max_bytes
        db.ensure_schema("results", SCHEMA)

    async def put(self, job_id: str, tenant_id: str, result: Any) -> bool:
        encoded = result_json(result)
        if len(encoded) > self.max_bytes:  # ASCII only: one byte per character
            raise TooLarge(
                f"the result of job {job_id} is {len(encoded):,} bytes of JSON; results are"
                f" limited to {self.max_bytes:,} bytes",
                self.max_bytes,
            )
        return await self.db.write(self._put, job_id, tenant_id, encoded)

    @staticmethod
    def _put(conn: sqlite3.Connection, job_id: str, tenant_id: str, encoded: str) -> bool:
        cur = conn.execute(
            "INSERT INTO job_results (job_id, tenant_id, result, created_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (job_id) DO NOTHING",
            (job_id, tenant_id, encoded, time.time()),
        )
        return cur.rowcount == 1

    async def purge_older(self, created_before: datetime, limit: int) -> int:
        return await self.db.write(self._purge, created_before.timestamp(), limit)

    @staticmethod
    def _purge(conn: sqlite3.Connection, cutoff: float, limit: int) -> int:
        cur = conn.execute(
            "DELETE FROM job_results WHERE job_id IN"
            " (SELECT job_id FROM job_results WHERE created_at < ? LIMIT ?)",
            (cutoff, limit),
        )
        return cur.rowcount

    async def get(self, job_id: str) -> StoredResult | None:
        return await self.db.read(self._get, job_id)

    @staticmethod
    def _get(conn: sqlite3.Connection, job_id: str) -> StoredResult | None:
        row = conn.execute(
            "SELECT job_id, tenant_id, result, created_at FROM job_results WHERE job_id = ?",
            (job_id,),
        ).fetchone()
        if row is None:
            return None
        return StoredResult(
            job_id=row["job_id"],
            tenant_id=row["tenant_id"],
            result=json.loads(row["result"]),
            created_at=datetime.fromtimestamp(row["created_at"], UTC),
        )

    async def ping(self) -> None:
        await self.db.ping()

    async def close(self) -> None:
        """The shared Database is closed by its owner."""
