"""Queue depth on Service Bus comes from the administration client, an HTTP API whose
failures are ``azure.core`` errors rather than ``ServiceBusError``: each must reach the
caller as BackendUnavailable (the health check and stats catch nothing else)."""

from __future__ import annotations

from collections.abc import Callable

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


@pytest.mark.parametrize(
    ("fault", "said"),
    [(unreachable, "ServiceRequestError"), (denied, "HTTP 401"), (queue_missing, "not exist")],
)
async def test_a_failed_management_call_is_backend_unavailable(
    namespace: FakeNamespace,
    servicebus_queue: ServiceBusJobQueue,
    fault: Callable[[FakeNamespace], None],
    said: str,
) -> None:
    assert (await servicebus_queue.depth()).active == 0
    fault(namespace)
    with pytest.raises(BackendUnavailable, match=said):
        await servicebus_queue.depth()
