"""The implementations each port contract runs against.

Each contract module parametrises its factory fixture over ``*_BACKENDS``; a new
implementation (Service Bus, Table storage, Cosmos DB) joins every contract test by
adding one entry here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from shared.adapters.sqlite import Database, SqliteJobQueue, SqliteResultStore, SqliteStatusStore
from shared.ports import JobQueue, ResultStore, StatusStore


class SqliteBackend:
    """Every port on one SQLite file; ``second_process()`` opens the same file anew, as
    another process would."""

    def __init__(self, tmp_path: Path) -> None:
        self.path = tmp_path / "contract.sqlite3"
        self.databases: list[Database] = []

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

    def status(self) -> StatusStore:
        return SqliteStatusStore(self.database())

    def results(self) -> ResultStore:
        return SqliteResultStore(self.database())

    def close(self) -> None:
        for db in self.databases:
            db.close()


BACKENDS: dict[str, Callable[[Path], SqliteBackend]] = {"sqlite": SqliteBackend}


@asynccontextmanager
async def backend(name: str, tmp_path: Path) -> AsyncIterator[SqliteBackend]:
    made = BACKENDS[name](tmp_path)
    try:
        yield made
    finally:
        made.close()
