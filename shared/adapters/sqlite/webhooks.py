"""Webhook secrets and the webhook outbox on SQLite (shared.ports.WebhookStore)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

from shared.adapters.sqlite.database import Database
from shared.ports import PendingDelivery, WebhookSecrets

SCHEMA = """
CREATE TABLE IF NOT EXISTS webhook_secrets (
    tenant_id TEXT PRIMARY KEY,
    current TEXT NOT NULL,
    previous TEXT,
    previous_until REAL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS webhook_outbox (
    due_us INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    job_id TEXT NOT NULL,
    PRIMARY KEY (due_us, event_id)
) WITHOUT ROWID
"""


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(at: datetime) -> int:
    """``at`` in whole microseconds since the epoch (exact, unlike a float)."""
    return (at - EPOCH) // timedelta(microseconds=1)


def _secrets(row: sqlite3.Row) -> WebhookSecrets:
    until = row["previous_until"]
    return WebhookSecrets(
        tenant_id=row["tenant_id"],
        current=row["current"],
        previous=row["previous"],
        previous_until=None if until is None else datetime.fromtimestamp(until, UTC),
    )


class SqliteWebhookStore:
    """See :class:`shared.ports.WebhookStore`."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.ensure_schema("webhooks", SCHEMA)

    async def secrets(self, tenant_id: str, candidate: str) -> WebhookSecrets:
        return await self.db.write(self._secrets, tenant_id, candidate)

    @staticmethod
    def _secrets(conn: sqlite3.Connection, tenant_id: str, candidate: str) -> WebhookSecrets:
        conn.execute(
            "INSERT OR IGNORE INTO webhook_secrets (tenant_id, current) VALUES (?, ?)",
            (tenant_id, candidate),
        )
        row = conn.execute(
            "SELECT * FROM webhook_secrets WHERE tenant_id = ?", (tenant_id,)
        ).fetchone()
        return _secrets(row)

    async def rotate(self, tenant_id: str, new: str, previous_until: datetime) -> WebhookSecrets:
        return await self.db.write(self._rotate, tenant_id, new, previous_until.timestamp())

    @staticmethod
    def _rotate(conn: sqlite3.Connection, tenant_id: str, new: str, until: float) -> WebhookSecrets:
        conn.execute(
            "INSERT INTO webhook_secrets (tenant_id, current) VALUES (?, ?)"
            " ON CONFLICT (tenant_id) DO UPDATE SET previous = current,"
            " previous_until = ?, current = excluded.current",
            (tenant_id, new, until),
        )
        row = conn.execute(
            "SELECT * FROM webhook_secrets WHERE tenant_id = ?", (tenant_id,)
        ).fetchone()
        return _secrets(row)

    async def track(self, pending: PendingDelivery) -> None:
        await self.db.write(
            lambda conn: conn.execute(
                "INSERT OR IGNORE INTO webhook_outbox (due_us, event_id, tenant_id, job_id)"
                " VALUES (?, ?, ?, ?)",
                (micros(pending.due_at), pending.event_id, pending.tenant_id, pending.job_id),
            )
        )

    async def due(self, before: datetime, limit: int) -> list[PendingDelivery]:
        return await self.db.read(self._due, micros(before), limit)

    @staticmethod
    def _due(conn: sqlite3.Connection, before: int, limit: int) -> list[PendingDelivery]:
        rows = conn.execute(
            "SELECT * FROM webhook_outbox WHERE due_us < ? ORDER BY due_us, event_id LIMIT ?",
            (before, limit),
        )
        return [
            PendingDelivery(
                tenant_id=r["tenant_id"],
                job_id=r["job_id"],
                event_id=r["event_id"],
                due_at=EPOCH + timedelta(microseconds=r["due_us"]),
            )
            for r in rows
        ]

    async def forget(self, pending: PendingDelivery) -> None:
        await self.db.write(
            lambda conn: conn.execute(
                "DELETE FROM webhook_outbox WHERE due_us = ? AND event_id = ?",
                (micros(pending.due_at), pending.event_id),
            )
        )

    async def close(self) -> None:
        return None
