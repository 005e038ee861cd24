"""Queue depth on Service Bus comes from the administration client, an HTTP API whose
failures are ``azure.core`` errors rather than ``ServiceBusError``: each must reach the
caller as BackendUnavailable (the health check and stats catch nothing else)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from shared.adapters.azure.servicebus_queue import ServiceBusJobQueue
from shared.errors import BackendUnavailable
from tests.support.servicebus_fake import FakeNamespace


def unreachable(namespace: FakeNamespace) -> None:
    namespace.available = False


def denied(namespace: FakeNamespace) -> None:
    namespace.management_denied = True


def queue_missing(namespace: FakeNamespace) -> None:
    del namespace.queues["jobs"]


@pytest.fixture
async def namespace() -> FakeNamespace:
    namespace = FakeNamespace()
    namespace.create_queue("jobs")
    return namespace


@pytest.fixture
async def queue(namespace: FakeNamespace) -> AsyncIterator[ServiceBusJobQueue]:
    client = namespace.client()
    queue = ServiceBusJobQueue(
        client, "jobs", lock_duration=60, max_delivery_count=10, admin=client
    )
    yield queue
    await queue.close()


@pytest.mark.parametrize(
    ("fault", "said"),
    [(unreachable, "ServiceRequestError"), (denied, "HTTP 401"), (queue_missing, "not exist")],
)
async def test_a_failed_management_call_is_backend_unavailable(
    namespace: FakeNamespace,
    queue: ServiceBusJobQueue,
    fault: Callable[[FakeNamespace], None],
    said: str,
) -> None:
    assert (await queue.depth()).active == 0
    fault(namespace)
    with pytest.raises(BackendUnavailable, match=said):
        await queue.depth()
