from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.adapters.sqlite import Database, SqliteJobQueue, SqliteResultStore, SqliteStatusStore
from shared.admission import SubmissionRules
from shared.dead_letters import DeadLetters
from shared.health import Health
from shared.jobtypes import JobTypeRegistry, default_registry
from shared.maintenance import Reconciler
from shared.queries import Queries
from shared.retries import RetryPolicy
from shared.settling import Backoffs
from shared.submissions import Submissions
from shared.worker import Worker


class Parts:
    """The services and the Worker on real SQLite adapters, with fast retries."""

    def __init__(self, tmp_path: Path, registry: JobTypeRegistry) -> None:
        self.db = Database(tmp_path / "unit.sqlite3")
        self.status = SqliteStatusStore(self.db)
        self.results = SqliteResultStore(self.db)
        self.queue = SqliteJobQueue(self.db, "jobs", lock_duration=5, max_delivery_count=5)
        self.registry = registry
        self.submissions = Submissions(
            status=self.status, queue=self.queue, rules=SubmissionRules(registry)
        )
        self.queries = Queries(status=self.status, results=self.results, registry=registry)
        self.dead_letters = DeadLetters(status=self.status, queue=self.queue, queries=self.queries)
        self.reconciler = Reconciler(status=self.status, queue=self.queue)
        self.health = Health(status=self.status, results=self.results, queue=self.queue)
        self.worker = Worker(
            status=self.status,
            results=self.results,
            queue=self.queue,
            registry=registry,
            backoffs=Backoffs(
                RetryPolicy(base_seconds=0.05, max_seconds=0.1, retry_after_max_seconds=60)
            ),
        )


@pytest.fixture
def registry() -> JobTypeRegistry:
    return default_registry()


@pytest.fixture
async def parts(tmp_path: Path, registry: JobTypeRegistry) -> AsyncIterator[Parts]:
    made = Parts(tmp_path, registry)
    yield made
    made.db.close()
