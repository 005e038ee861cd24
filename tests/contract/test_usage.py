"""The Azure adapters count the billable operations they perform (``shared/usage.py``),
which ``bench/cost.py`` prices. Run against the emulators and the Service Bus fake."""

from __future__ import annotations

import pytest

from shared.jobs import Job
from shared.messages import JobMessage
from tests.contract.backends import Backends


@pytest.fixture
def queue_kind() -> str:
    return "servicebus-fake"


def calls(backends: Backends) -> dict[str, int]:
    return {f"{s} {op}": m.calls for (s, op), m in backends.usage.snapshot().items()}


async def test_table_requests_are_counted_by_method(backends: Backends) -> None:
    store = backends.status("table")
    await store.ping()  # set-up (the table) is counted too; start from zero after it
    backends.usage.reset()
    job = await store.create(Job.new(tenant_id="t", job_type="echo", payload={}, max_attempts=3))
    await store.get("t", job.job_id)
    await store.get("t", job.job_id)
    await store.replace(job.model_copy(update={"stage": "x"}))
    # The insert is one transaction (POST) with the job's index rows and its counter,
    # which this process reads once first (GET); a change of neither state nor type (a
    # progress report) is one plain replace (PUT).
    assert calls(backends) == {"table POST": 1, "table GET": 3, "table PUT": 1}


async def test_cosmos_requests_and_request_charges_are_counted(backends: Backends) -> None:
    store = backends.results("cosmos")
    await store.ping()
    backends.usage.reset()
    assert await store.put("j1", "t", {"ok": True})
    assert not await store.put("j1", "t", {"ok": False})  # a 409 is billed too
    await store.get("j1")
    meters = backends.usage.snapshot()
    assert calls(backends) == {"cosmos POST": 2, "cosmos GET": 1}
    assert meters[("cosmos", "GET")].units > 0, "the request charge header is recorded"


async def test_servicebus_operations_are_counted_per_message_sent(backends: Backends) -> None:
    queue = backends.queue()
    await queue.send([JobMessage(f"j{i}", "t", 1).outgoing() for i in range(3)])
    received = await queue.receive(max_messages=3, max_wait=1)
    assert len(received) == 3
    await queue.complete(received[0])
    await queue.abandon(received[1])
    await queue.dead_letter(received[2], "Test", "counted")
    assert calls(backends) == {
        "servicebus send": 3,
        "servicebus receive": 1,
        "servicebus complete": 1,
        "servicebus abandon": 1,
        "servicebus dead_letter": 1,
    }
