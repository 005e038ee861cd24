"""API keys on SQLite (hashes only)."""

from __future__ import annotations

import builtins
import sqlite3
from datetime import UTC, datetime

from shared.adapters.sqlite.database import Database
from shared.errors import Conflict, NotFound
from shared.ports import ApiKey

SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at REAL NOT NULL,
    revoked_at REAL
) WITHOUT ROWID
"""


def _key(row: sqlite3.Row) -> ApiKey:
    return ApiKey(
        key_id=row["key_id"],
        tenant_id=row["tenant_id"],
        name=row["name"],
        secret_hash=row["secret_hash"],
        created_at=datetime.fromtimestamp(row["created_at"], UTC),
        revoked_at=None
        if row["revoked_at"] is None
        else datetime.fromtimestamp(row["revoked_at"], UTC),
    )


class SqliteApiKeyStore:
    """See :class:`shared.ports.ApiKeyStore`."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.ensure_schema("api_keys", SCHEMA)

    async def add(self, key: ApiKey) -> None:
        await self.db.write(self._add, key)

    @staticmethod
    def _add(conn: sqlite3.Connection, key: ApiKey) -> None:
        try:
            conn.execute(
                "INSERT INTO api_keys (key_id, tenant_id, name, secret_hash, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (key.key_id, key.tenant_id, key.name, key.secret_hash, key.created_at.timestamp()),
            )
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"API key {key.key_id} already exists") from exc

    async def get(self, key_id: str) -> ApiKey:
        return await self.db.read(self._get, key_id)

    @staticmethod
    def _get(conn: sqlite3.Connection, key_id: str) -> ApiKey:
        row = conn.execute("SELECT * FROM api_keys WHERE key_id = ?", (key_id,)).fetchone()
        if row is None:
            raise NotFound(f"API key {key_id} not found")
        return _key(row)

    async def list(self, tenant_id: str | None = None) -> builtins.list[ApiKey]:
        return await self.db.read(self._list, tenant_id)

    @staticmethod
    def _list(conn: sqlite3.Connection, tenant_id: str | None) -> builtins.list[ApiKey]:
        if tenant_id is None:
            rows = conn.execute("SELECT * FROM api_keys ORDER BY created_at, key_id")
        else:
            rows = conn.execute(
                "SELECT * FROM api_keys WHERE tenant_id = ? ORDER BY created_at, key_id",
                (tenant_id,),
            )
        return [_key(r) for r in rows]

    async def revoke(self, key_id: str, at: datetime) -> ApiKey:
        return await self.db.write(self._revoke, key_id, at.timestamp())

    @staticmethod
    def _revoke(conn: sqlite3.Connection, key_id: str, at: float) -> ApiKey:
        conn.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
            (at, key_id),
        )
        return SqliteApiKeyStore._get(conn, key_id)

    async def close(self) -> None:
        return None
