"""Sending on Service Bus: the SDK's async sender takes one send at a time and, when
it breaks, leaks a bare AttributeError (azure-sdk-for-python #36334, #35618, #48921).
The fake behaves so; the adapter must neither trip on it nor let it escape."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from azure.servicebus import ServiceBusMessage

from shared.adapters.azure.servicebus_queue import ServiceBusJobQueue
from shared.adapters.sqlite import Database, SqliteStatusStore
from shared.admission import SubmissionRules
from shared.errors import BackendUnavailable
from shared.jobtypes import default_registry
from shared.ports import OutgoingMessage
from shared.submissions import Submission, Submissions
from tests.support.servicebus_fake import FakeNamespace


async def test_the_fake_refuses_overlapping_sends_on_one_sender_as_the_sdk_does(
    namespace: FakeNamespace,
) -> None:
    sender = namespace.client().get_queue_sender("jobs")
    outcomes = await asyncio.gather(
        sender.send_messages(ServiceBusMessage(b"a", message_id="a")),
        sender.send_messages(ServiceBusMessage(b"b", message_id="b")),
        return_exceptions=True,
    )
    assert outcomes[0] is None
    assert isinstance(outcomes[1], AttributeError)
    await sender.send_messages(ServiceBusMessage(b"c", message_id="c"))  # one at a time: fine


async def test_a_sender_broken_while_idle_is_replaced(
    namespace: FakeNamespace, servicebus_queue: ServiceBusJobQueue
) -> None:
    await servicebus_queue.send([OutgoingMessage("before", b"x")])
    namespace.break_senders()
    await servicebus_queue.send([OutgoingMessage("after", b"y")])
    got = await servicebus_queue.receive(10, max_wait=0.5)
    assert {m.message_id for m in got} == {"before", "after"}


async def test_an_unexpected_send_error_is_backend_unavailable(
    namespace: FakeNamespace, servicebus_queue: ServiceBusJobQueue
) -> None:
    namespace.break_senders(new_ones_too=True)
    with pytest.raises(BackendUnavailable, match="AttributeError"):
        await servicebus_queue.send([OutgoingMessage("m", b"x")])


async def test_submit_rolls_back_when_the_send_fails_so(
    tmp_path: Path, namespace: FakeNamespace, servicebus_queue: ServiceBusJobQueue
) -> None:
    db = Database(tmp_path / "db.sqlite3")
    status = SqliteStatusStore(db)
    submissions = Submissions(
        status=status, queue=servicebus_queue, rules=SubmissionRules(default_registry())
    )
    try:
        namespace.break_senders(new_ones_too=True)
        with pytest.raises(BackendUnavailable):
            await submissions.submit("t1", Submission("echo", {"message": "hi"}))
        assert (await status.list("t1")).items == [], "no job left queued without a message"
    finally:
        db.close()
