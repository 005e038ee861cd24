"""Heartbeats of worker processes on SQLite (the local host's worker list)."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime

from shared.adapters.sqlite.database import Database
from shared.ports import WorkerBeat

SCHEMA = """
CREATE TABLE IF NOT EXISTS workers (
    worker_id TEXT PRIMARY KEY,
    last_seen REAL NOT NULL,
    data TEXT NOT NULL
) WITHOUT ROWID
"""


class SqliteWorkerRegistry:
    """See :class:`shared.ports.WorkerRegistry`."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.ensure_schema("workers", SCHEMA)

    async def beat(self, beat: WorkerBeat) -> None:
        data = json.dumps(
            {
                "pid": beat.pid,
                "hostname": beat.hostname,
                "started_at": beat.started_at.timestamp(),
                "in_flight": beat.in_flight,
                "invocations": beat.invocations,
                "queues": beat.queues,
            }
        )
        await self.db.write(self._beat, beat.worker_id, beat.last_seen.timestamp(), data)

    @staticmethod
    def _beat(conn: sqlite3.Connection, worker_id: str, last_seen: float, data: str) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO workers (worker_id, last_seen, data) VALUES (?, ?, ?)",
            (worker_id, last_seen, data),
        )

    async def live(self, seen_since: datetime) -> list[WorkerBeat]:
        return await self.db.read(self._live, seen_since.timestamp())

    @staticmethod
    def _live(conn: sqlite3.Connection, since: float) -> list[WorkerBeat]:
        out = []
        for row in conn.execute(
            "SELECT worker_id, last_seen, data FROM workers WHERE last_seen >= ?"
            " ORDER BY worker_id",
            (since,),
        ):
            data = json.loads(row["data"])
            out.append(
                WorkerBeat(
                    worker_id=row["worker_id"],
                    pid=data["pid"],
                    hostname=data["hostname"],
                    started_at=datetime.fromtimestamp(data["started_at"], UTC),
                    last_seen=datetime.fromtimestamp(row["last_seen"], UTC),
                    in_flight=data["in_flight"],
                    invocations=data["invocations"],
                    queues=data["queues"],
                )
            )
        return out

    async def forget(self, worker_id: str) -> None:
        await self.db.write(self._forget, worker_id)

    @staticmethod
    def _forget(conn: sqlite3.Connection, worker_id: str) -> None:
        conn.execute("DELETE FROM workers WHERE worker_id = ?", (worker_id,))
