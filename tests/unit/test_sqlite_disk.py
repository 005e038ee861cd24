"""A full or read-only SQLite store, without mounting anything: the database's own size
limit (PRAGMA max_page_count) makes SQLite answer SQLITE_FULL exactly as ENOSPC does, and
PRAGMA query_only makes it answer SQLITE_READONLY as a read-only mount does. Submits are
refused with StorageFull / StorageReadOnly (507 + Retry-After), the reason is logged in one
line without a traceback, the health check reports it, and all of it ends once writes are
possible again."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from functions.problems import to_problem
from shared.adapters.sqlite import Database, SqliteJobQueue, SqliteResultStore, SqliteStatusStore
from shared.admission import SubmissionRules
from shared.errors import BackendUnavailable, StorageFull, StorageReadOnly
from shared.health import Health
from shared.jobtypes import default_registry
from shared.queries import Queries
from shared.submissions import Submission, Submissions

ECHO = Submission(job_type="echo", payload={"message": "x" * 2000})


class Store:
    def __init__(self, path: Path) -> None:
        self.db = Database(path)
        status = SqliteStatusStore(self.db)
        results = SqliteResultStore(self.db)
        queue = SqliteJobQueue(self.db, "jobs", lock_duration=5, max_delivery_count=5)
        registry = default_registry()
        self.submissions = Submissions(status=status, queue=queue, rules=SubmissionRules(registry))
        self.queries = Queries(status=status, results=results, registry=registry)
        self.health = Health(status=status, results=results, queue=queue)

    async def fill(self) -> None:
        """Cap the writer's database at the pages it has: the next new page is SQLITE_FULL."""

        def cap(conn: sqlite3.Connection) -> None:
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count={pages}")

        await self.db.write(cap)

    async def free(self) -> None:
        await self.db.write(lambda conn: conn.execute("PRAGMA max_page_count=1073741823"))

    def set_read_only(self, on: bool) -> None:
        """Make every connection of the store read-only (or writable again). Done from
        outside, on the idle connections: a connection in query_only mode cannot even
        begin the write transaction that would turn it off."""
        with self.db._lock:
            for conn in self.db._connections:
                conn.execute(f"PRAGMA query_only={int(on)}")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    made = Store(tmp_path / "disk.sqlite3")
    await made.submissions.submit("t", ECHO)  # the tables exist and hold a row
    yield made
    made.db.close()


def storage_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "shared.adapters.sqlite.database"]


async def test_a_full_database_refuses_a_submit_with_507_logs_once_and_is_unhealthy(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    assert (await store.health.check())["ok"]
    await store.fill()

    refused = []
    for _ in range(3):
        with pytest.raises(BackendUnavailable) as caught:
            for _ in range(50):  # until a write needs a page the cap forbids
                await store.submissions.submit("t", ECHO)
        refused.append(caught.value)
    assert all(isinstance(exc, StorageFull) for exc in refused), refused

    response = to_problem(refused[0])
    assert response.status_code == 507
    assert response.headers["Retry-After"] == "30"
    assert response.mimetype == "application/problem+json"
    body = json.loads(response.get_body())
    assert body["title"] == "Insufficient storage"
    assert "disk is full" in body["detail"] and "sqlite3" not in body["detail"], body

    [line] = storage_lines(caplog)  # three refusals, one line while it lasts
    assert line.levelno == logging.ERROR and line.exc_info is None
    assert "disk is full" in line.getMessage() and "\n" not in line.getMessage()

    health = await store.health.check()
    assert health["ok"] is False
    assert health["checks"]["status_store"]["ok"] is False
    assert "disk is full" in health["checks"]["status_store"]["error"]

    await store.free()
    job = await store.submissions.submit("t", ECHO)
    assert (await store.queries.get("t", job.job_id)).job_id == job.job_id
    assert (await store.health.check())["ok"], "healthy again once a write succeeds"
    assert "takes writes" in storage_lines(caplog)[-1].getMessage()


async def test_read_only_storage_refuses_a_submit_with_507_and_is_unhealthy(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    store.set_read_only(True)
    with pytest.raises(StorageReadOnly) as caught:
        await store.submissions.submit("t", ECHO)
    assert to_problem(caught.value).status_code == 507
    [line] = storage_lines(caplog)
    assert "read-only" in line.getMessage() and line.exc_info is None

    health = await store.health.check()
    assert health["ok"] is False and "read-only" in health["checks"]["status_store"]["error"]

    store.set_read_only(False)
    await store.submissions.submit("t", ECHO)
    assert (await store.health.check())["ok"]
