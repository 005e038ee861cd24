from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.adapters.azure.servicebus_queue import ServiceBusJobQueue
from shared.composition import Runtime
from shared.jobtypes import JobTypeRegistry, default_registry
from shared.settings import Settings
from tests.support.servicebus_fake import FakeNamespace


class Parts:
    """The app as the composition root builds it (shared/composition.py), on the embedded
    backend in a folder of its own, with fast retries, a short lock and no tenant
    limits: the services,
    the Worker, and the normal-priority queue the tests deliver from."""

    def __init__(self, tmp_path: Path, registry: JobTypeRegistry) -> None:
        settings = Settings.load(
            None,
            data_dir=tmp_path,
            queue_lock_seconds=5,
            queue_max_delivery_count=5,
            retry_backoff_base_seconds=0.05,
            retry_backoff_max_seconds=0.1,
            retry_after_max_seconds=60,
            tenant_submissions_per_minute=0,  # no tenant limits unless a test sets them
            tenant_max_running=0,
        )
        self.runtime = rt = Runtime.from_settings(settings, registry=registry)
        assert rt._sqlite is not None
        self.db = rt._sqlite()
        self.status, self.results, self.registry = rt.status, rt.results, registry
        self.queue = rt.queue(settings.jobs_queue)
        self.submissions, self.queries = rt.submissions, rt.queries
        self.dead_letters, self.reconciler, self.health = rt.dead_letters, rt.reconciler, rt.health
        self.worker = rt.worker


@pytest.fixture
def registry() -> JobTypeRegistry:
    return default_registry()


@pytest.fixture
async def parts(tmp_path: Path, registry: JobTypeRegistry) -> AsyncIterator[Parts]:
    made = Parts(tmp_path, registry)
    yield made
    await made.runtime.close()


@pytest.fixture
async def namespace() -> FakeNamespace:
    """A fake Service Bus namespace (tests/support/servicebus_fake.py) with a queue ``jobs``."""
    namespace = FakeNamespace()
    namespace.create_queue("jobs")
    return namespace


@pytest.fixture
async def servicebus_queue(namespace: FakeNamespace) -> AsyncIterator[ServiceBusJobQueue]:
    """The Service Bus adapter on ``jobs``, with the namespace's administration client
    (for the queue's depth)."""
    client = namespace.client()
    queue = ServiceBusJobQueue(
        client, "jobs", lock_duration=60, max_delivery_count=10, admin=client
    )
    yield queue
    await queue.close()
