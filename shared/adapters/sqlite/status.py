"""Job status rows on SQLite with optimistic concurrency (an integer version as ETag).

Every list is a range of one index read newest first (by tenant; by tenant and state;
by tenant and type; by tenant, state and type), so a page costs what it returns; the
counts are kept exact in counter tables written in the same transaction as the jobs
(shared/adapters/sqlite/status_counts.py)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from shared.adapters.sqlite import status_counts
from shared.adapters.sqlite.database import Database
from shared.errors import Conflict, NotFound, PreconditionFailed
from shared.job_ids import purge_bound
from shared.jobs import Job, JobState
from shared.paging import decode_cursor, encode_cursor
from shared.ports import (
    JobCounts,
    Page,
    job_json,
    marker_name,
    marker_value,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    job_type TEXT NOT NULL,
    state TEXT NOT NULL,
    version INTEGER NOT NULL,
    data TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS jobs_by_tenant ON jobs (tenant_id, job_id);
CREATE INDEX IF NOT EXISTS jobs_by_tenant_state ON jobs (tenant_id, state, job_id);
CREATE INDEX IF NOT EXISTS jobs_by_tenant_type ON jobs (tenant_id, job_type, job_id);
CREATE INDEX IF NOT EXISTS jobs_by_tenant_state_type ON jobs (tenant_id, state, job_type, job_id);
CREATE TABLE IF NOT EXISTS markers (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID
"""

#: Retention: terminal jobs finished before a cutoff, read as a range of the primary key
#: (ids made before the cutoff, shared.job_ids.purge_bound), then deleted with their counts.
PURGE_SQL = (
    "DELETE FROM jobs WHERE job_id IN (SELECT job_id FROM jobs"
    " WHERE job_id < ? AND state IN ('completed', 'failed', 'cancelled')"
    " AND json_extract(data, '$.finished_at') < ? LIMIT ?)"
    " RETURNING tenant_id, state, job_type,"
    f" CASE WHEN state = 'completed' THEN {status_counts.MINUTE_SQL} END AS minute"
)


def list_query(
    tenant_id: str, state: JobState | None, job_type: str | None, cursor: str | None, limit: int
) -> tuple[str, tuple[object, ...]]:
    """A page of a list and one more row: a range of one of the jobs' indexes, read
    newest first (no sort, no filter beyond the index)."""
    where = ["tenant_id = ?"]
    args: list[object] = [tenant_id]
    if state is not None:
        where.append("state = ?")
        args.append(state.value)
    if job_type is not None:
        where.append("job_type = ?")
        args.append(job_type)
    if cursor:
        where.append("job_id < ?")
        args.append(decode_cursor(cursor))
    sql = f"SELECT version, data FROM jobs WHERE {' AND '.join(where)} ORDER BY job_id DESC LIMIT ?"
    return sql, (*args, limit + 1)


class SqliteStatusStore:
    """See :class:`shared.ports.StatusStore`."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.ensure_schema("status", SCHEMA)
        with db.transaction() as conn:
            status_counts.migrate(conn)

    @staticmethod
    def _job(row: sqlite3.Row) -> Job:
        return Job.model_validate_json(row["data"]).model_copy(update={"etag": str(row["version"])})

    async def create(self, job: Job) -> Job:
        await self.db.write(self._create, job, job_json(job))
        return job.model_copy(update={"etag": "1"})

    @staticmethod
    def _create(conn: sqlite3.Connection, job: Job, data: str) -> None:
        try:
            conn.execute(
                "INSERT INTO jobs (job_id, tenant_id, job_type, state, version, data)"
                " VALUES (?, ?, ?, ?, 1, ?)",
                (job.job_id, job.tenant_id, job.job_type, job.state.value, data),
            )
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"job {job.job_id} already exists") from exc
        status_counts.shift(conn, status_counts.counted(job), 1)

    async def create_many(self, jobs: list[Job]) -> None:
        """Store new jobs in one transaction (a bulk load: bench/scale.py)."""
        await self.db.write(self._create_many, [(job, job_json(job)) for job in jobs])

    @classmethod
    def _create_many(cls, conn: sqlite3.Connection, rows: list[tuple[Job, str]]) -> None:
        for job, data in rows:
            cls._create(conn, job, data)

    async def get(self, tenant_id: str, job_id: str) -> Job:
        return await self.db.read(self._get, tenant_id, job_id)

    def _get(self, conn: sqlite3.Connection, tenant_id: str, job_id: str) -> Job:
        row = conn.execute(
            "SELECT version, data FROM jobs WHERE job_id = ? AND tenant_id = ?", (job_id, tenant_id)
        ).fetchone()
        if row is None:
            raise NotFound(f"job {job_id} not found")
        return self._job(row)

    async def replace(self, job: Job) -> Job:
        if job.etag is None:
            raise PreconditionFailed("replace needs the etag of the version it read")
        version = int(job.etag)
        await self.db.write(self._replace, job, version, job_json(job))
        return job.model_copy(update={"etag": str(version + 1)})

    @staticmethod
    def _replace(conn: sqlite3.Connection, job: Job, version: int, data: str) -> None:
        found = status_counts.stored(conn, job.tenant_id, job.job_id)
        if found is None:
            raise NotFound(f"job {job.job_id} not found")
        current, before = found
        if current != version:
            raise PreconditionFailed(f"job {job.job_id} changed since version {version}")
        conn.execute(
            "UPDATE jobs SET state = ?, version = version + 1, data = ?"
            " WHERE job_id = ? AND tenant_id = ? AND version = ?",
            (job.state.value, data, job.job_id, job.tenant_id, version),
        )
        # The type column never changes: the job counts under its stored type.
        status_counts.change(conn, before, status_counts.counted(job, before.job_type))

    async def delete(self, tenant_id: str, job_id: str) -> None:
        await self.db.write(self._delete, tenant_id, job_id)

    @staticmethod
    def _delete(conn: sqlite3.Connection, tenant_id: str, job_id: str) -> None:
        found = status_counts.stored(conn, tenant_id, job_id)
        if found is None:
            return
        conn.execute("DELETE FROM jobs WHERE job_id = ? AND tenant_id = ?", (job_id, tenant_id))
        status_counts.shift(conn, found[1], -1)

    async def list(
        self,
        tenant_id: str,
        *,
        state: JobState | None = None,
        job_type: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Job]:
        return await self.db.read(self._list, tenant_id, state, job_type, limit, cursor)

    def _list(
        self,
        conn: sqlite3.Connection,
        tenant_id: str,
        state: JobState | None,
        job_type: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Job]:
        sql, args = list_query(tenant_id, state, job_type, cursor, limit)
        rows = conn.execute(sql, args).fetchall()
        jobs = [self._job(r) for r in rows[:limit]]
        next_cursor = encode_cursor(jobs[-1].job_id) if len(rows) > limit and jobs else None
        return Page(items=jobs, next_cursor=next_cursor)

    async def purge_finished(self, finished_before: datetime, limit: int) -> int:
        """A range of the primary key (ids made before the cutoff, which start with the
        time they were made), so a run reads what it deletes and the few unfinished old
        jobs, not the whole table (it holds the write lock meanwhile)."""
        cutoff = finished_before.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return await self.db.write(self._purge, purge_bound(finished_before), cutoff, limit)

    @staticmethod
    def _purge(conn: sqlite3.Connection, bound: str, cutoff: str, limit: int) -> int:
        rows = conn.execute(PURGE_SQL, (bound, cutoff, limit)).fetchall()
        for row in rows:
            status_counts.shift(
                conn,
                status_counts.Counted(
                    row["tenant_id"], row["state"], row["job_type"], row["minute"]
                ),
                -1,
            )
        return len(rows)

    async def counts(self, tenant_id: str, completed_since: datetime) -> JobCounts:
        return await self.db.read(self._counts, tenant_id, completed_since)

    @staticmethod
    def _counts(conn: sqlite3.Connection, tenant_id: str, since: datetime) -> JobCounts:
        return status_counts.read(conn, tenant_id, since)

    async def rebuild_index(self, recount: bool = False) -> int:
        """Count every job again from the rows, in one write transaction (so safe while
        the app runs, with or without ``recount``); returns the number of jobs counted.
        The list indexes are SQLite's own and need nothing."""
        return await self.db.write(self._rebuild)

    @staticmethod
    def _rebuild(conn: sqlite3.Connection) -> int:
        status_counts.rebuild(conn)
        return int(conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0])

    async def get_marker(self, name: str) -> str | None:
        marker_name(name)
        return await self.db.read(self._get_marker, name)

    @staticmethod
    def _get_marker(conn: sqlite3.Connection, name: str) -> str | None:
        row = conn.execute("SELECT value FROM markers WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row["value"])

    async def put_marker(self, name: str, value: str) -> None:
        marker_name(name)
        await self.db.write(self._put_marker, name, marker_value(value))

    @staticmethod
    def _put_marker(conn: sqlite3.Connection, name: str, value: str) -> None:
        conn.execute(
            "INSERT INTO markers (name, value) VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, value),
        )

    async def ping(self) -> None:
        await self.db.ping()

    async def close(self) -> None:
        """The shared Database is closed by its owner."""
