"""The implementations each port contract runs against.

Each contract module parametrises over the names below; a new implementation joins
every contract test of its port by adding one entry (and one branch in ``Backends``).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.sqlite import Database, SqliteJobQueue, SqliteResultStore, SqliteStatusStore
from shared.ports import JobQueue, ResultStore, StatusStore
from shared.runtime import _result_store, _status_store
from shared.settings import Settings

QUEUE_BACKENDS = ["sqlite"]
STATUS_BACKENDS = ["sqlite", "table"]
RESULT_BACKENDS = ["sqlite", "cosmos"]


class Backends:
    """Makes fresh implementations for one test; several objects of one kind share their
    storage, as separate processes would."""

    def __init__(self, request: pytest.FixtureRequest, tmp_path: Path) -> None:
        self.request = request
        self.path = tmp_path / "contract.sqlite3"
        self.unique = "t" + uuid.uuid4().hex[:16]
        self.databases: list[Database] = []
        self.closables: list[Any] = []

    def database(self) -> Database:
        db = Database(self.path)
        self.databases.append(db)
        return db

    def queue(self, db: Database | None = None, **options: Any) -> JobQueue:
        options = {"lock_duration": 1.0, "max_delivery_count": 3, **options}
        window = options.pop("duplicate_window", 600.0)
        return SqliteJobQueue(
            db or self.database(), "contract", duplicate_detection_window=window, **options
        )

    def settings(self, kind: str) -> Settings:
        if kind == "table":
            azurite = self.request.getfixturevalue("azurite")
            return Settings.load(
                None,
                status_backend="table",
                status_table=self.unique,
                table_connection=azurite.connection_string,
            )
        if kind == "cosmos":
            cosmos = self.request.getfixturevalue("cosmos_server")
            return Settings.load(
                None,
                result_backend="cosmos",
                cosmos_results_container=self.unique,
                cosmos_connection=cosmos.connection_string,
            )
        return Settings.load(None)

    def status(self, kind: str) -> StatusStore:
        store = (
            SqliteStatusStore(self.database())
            if kind == "sqlite"
            else _status_store(self.settings(kind), self.database)
        )
        self.closables.append(store)
        return store

    def results(self, kind: str) -> ResultStore:
        store = (
            SqliteResultStore(self.database())
            if kind == "sqlite"
            else _result_store(self.settings(kind), self.database)
        )
        self.closables.append(store)
        return store

    async def aclose(self) -> None:
        for closable in self.closables:
            await closable.close()
        for db in self.databases:
            db.close()
