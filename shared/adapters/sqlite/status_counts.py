"""Exact job counts on SQLite, kept with the jobs.

``job_counts`` holds a tenant's jobs per (state, type) and ``job_completions`` its
jobs in state ``completed`` per minute of ``finished_at``. Every write of ``jobs``
changes them in the same transaction (:func:`shift`), so they never disagree with the
rows, and stats read a few rows whatever the table holds. :func:`migrate` creates them
for a database written before and counts the rows once; :func:`rebuild` counts again.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.jobs import Job, JobState
from shared.ports import JobCounts

COUNTERS = """
CREATE TABLE job_counts (
    tenant_id TEXT NOT NULL,
    state TEXT NOT NULL,
    job_type TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, state, job_type)
) WITHOUT ROWID;
CREATE TABLE job_completions (
    tenant_id TEXT NOT NULL,
    minute TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, minute)
) WITHOUT ROWID
"""

#: A completed job's minute from its stored JSON: finished_at is ISO 8601 in UTC
#: ("2026-11-23T07:35:01.5Z"), so its first 16 characters are the minute.
MINUTE_SQL = "substr(json_extract(data, '$.finished_at'), 1, 16)"


@dataclass(frozen=True)
class Counted:
    """What one job adds to the counters: its (state, type), and its minute of
    completion when it is ``completed``."""

    tenant_id: str
    state: str
    job_type: str
    minute: str | None


def minute_of(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def counted(job: Job, job_type: str | None = None) -> Counted:
    done = job.state is JobState.COMPLETED
    return Counted(
        job.tenant_id,
        job.state.value,
        job_type or job.job_type,
        minute_of(job.finished_at) if done else None,
    )


def stored(conn: sqlite3.Connection, tenant_id: str, job_id: str) -> tuple[int, Counted] | None:
    """The stored job's version and what it counts for, or None."""
    row = conn.execute(
        f"SELECT version, state, job_type, CASE WHEN state = 'completed' THEN {MINUTE_SQL}"
        " END AS minute FROM jobs WHERE job_id = ? AND tenant_id = ?",
        (job_id, tenant_id),
    ).fetchone()
    if row is None:
        return None
    return row["version"], Counted(tenant_id, row["state"], row["job_type"], row["minute"])


def shift(conn: sqlite3.Connection, what: Counted, by: int) -> None:
    """Add ``by`` (1 or -1) to the counters of ``what``; a counter at 0 is removed."""
    _add(
        conn,
        "job_counts",
        ("tenant_id", "state", "job_type"),
        (what.tenant_id, what.state, what.job_type),
        by,
    )
    if what.minute is not None:
        _add(conn, "job_completions", ("tenant_id", "minute"), (what.tenant_id, what.minute), by)


def _add(
    conn: sqlite3.Connection, table: str, keys: tuple[str, ...], values: tuple[str, ...], by: int
) -> None:
    names = ", ".join(keys)
    marks = ", ".join("?" for _ in keys)
    where = " AND ".join(f"{k} = ?" for k in keys)
    conn.execute(
        f"INSERT INTO {table} ({names}, n) VALUES ({marks}, ?)"
        f" ON CONFLICT ({names}) DO UPDATE SET n = n + excluded.n",
        (*values, by),
    )
    conn.execute(f"DELETE FROM {table} WHERE {where} AND n = 0", values)


def change(conn: sqlite3.Connection, before: Counted | None, after: Counted | None) -> None:
    """Move a job's count from ``before`` to ``after`` (None: not stored)."""
    if before == after:
        return
    if before is not None:
        shift(conn, before, -1)
    if after is not None:
        shift(conn, after, 1)


def rebuild(conn: sqlite3.Connection) -> None:
    """Count every job again (inside the caller's write transaction)."""
    conn.execute("DELETE FROM job_counts")
    conn.execute("DELETE FROM job_completions")
    conn.execute(
        "INSERT INTO job_counts (tenant_id, state, job_type, n)"
        " SELECT tenant_id, state, job_type, COUNT(*) FROM jobs GROUP BY 1, 2, 3"
    )
    conn.execute(
        f"INSERT INTO job_completions (tenant_id, minute, n) SELECT tenant_id, {MINUTE_SQL},"
        " COUNT(*) FROM jobs WHERE state = 'completed'"
        f" AND {MINUTE_SQL} IS NOT NULL GROUP BY 1, 2"
    )


def migrate(conn: sqlite3.Connection) -> None:
    """Create the counters if this database has none yet, and count its jobs once
    (inside a write transaction, so one process of several does it)."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'job_counts'"
    ).fetchone()
    if exists:
        return
    for statement in COUNTERS.split(";"):
        conn.execute(statement)
    rebuild(conn)


def read(conn: sqlite3.Connection, tenant_id: str, since: datetime) -> JobCounts:
    by = {
        (row["state"], row["job_type"]): row["n"]
        for row in conn.execute(
            "SELECT state, job_type, n FROM job_counts WHERE tenant_id = ? AND n > 0",
            (tenant_id,),
        )
    }
    start = minute_of(since)
    per_minute = [
        (datetime.fromisoformat(row["minute"] + ":00+00:00"), row["n"])
        for row in conn.execute(
            "SELECT minute, n FROM job_completions WHERE tenant_id = ? AND minute >= ?"
            " AND n > 0 ORDER BY minute",
            (tenant_id, start),
        )
    ]
    return JobCounts(by, per_minute)
