"""The JobQueue contract: Service Bus peek-lock semantics, for every implementation."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from shared.control import MessageLockLost
from shared.errors import TooLarge
from shared.ports import JobQueue, OutgoingMessage, ReceivedMessage
from tests.contract.backends import QUEUE_BACKENDS, Backends


@pytest.fixture(params=QUEUE_BACKENDS)
def queue_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def msg(i: int | str, **kw: object) -> OutgoingMessage:
    return OutgoingMessage(message_id=f"m-{i}", body=f"body-{i}".encode(), **kw)  # type: ignore[arg-type]


async def receive_one(queue: JobQueue, max_wait: float = 3.0):  # type: ignore[no-untyped-def]
    got = await queue.receive(1, max_wait=max_wait)
    assert len(got) == 1, "expected one message"
    return got[0]


async def test_round_trip_keeps_body_and_properties(backends: Backends) -> None:
    q = backends.queue()
    await q.send([OutgoingMessage("a", b"\x00\xffbytes", {"k": "v", "n": 3})])
    m = await receive_one(q)
    assert (m.message_id, m.body, m.application_properties) == (
        "a",
        b"\x00\xffbytes",
        {"k": "v", "n": 3},
    )
    assert m.delivery_count == 1
    assert m.locked_until > datetime.now(UTC)
    await q.complete(m)
    assert await q.receive(1, max_wait=0.2) == []
    assert (await q.depth()).active == 0


async def test_empty_receive_waits_for_max_wait(backends: Backends) -> None:
    q = backends.queue()
    started = time.monotonic()
    assert await q.receive(1, max_wait=0.4) == []
    assert time.monotonic() - started >= 0.39


async def test_receive_is_woken_by_a_send(backends: Backends) -> None:
    q = backends.queue()

    async def later() -> None:
        await asyncio.sleep(0.1)
        await q.send([msg(1)])

    started = time.monotonic()
    sender = asyncio.create_task(later())
    got = await q.receive(1, max_wait=5)
    await sender
    assert [m.message_id for m in got] == ["m-1"]
    assert time.monotonic() - started < 2, "receive returned when the message came, not at max_wait"


async def drain(queue: JobQueue, max_wait: float = 0.5) -> list[ReceivedMessage]:
    """Everything receivable now, unsettled, in the order it came (Service Bus may hand
    out fewer messages than asked for at each call, in any order). Use a queue whose
    lock outlasts the drain."""
    got: list[ReceivedMessage] = []
    while batch := await queue.receive(10, max_wait=max_wait):
        got.extend(batch)
    return got


async def receive_some(queue: JobQueue, n: int, within: float = 1.0) -> list[ReceivedMessage]:
    """Up to ``n`` messages, received until ``n`` came or ``within`` seconds passed."""
    got: list[ReceivedMessage] = []
    deadline = time.monotonic() + within
    while len(got) < n and (left := deadline - time.monotonic()) > 0:
        got.extend(await queue.receive(n - len(got), max_wait=left))
    return got


async def test_batches_hold_at_most_what_was_asked_and_lose_nothing(backends: Backends) -> None:
    # No order is promised: a queue without sessions is not FIFO.
    q = backends.queue(lock_duration=30)
    await q.send([msg(i) for i in range(10)])
    first = await q.receive(4, max_wait=1)
    assert 1 <= len(first) <= 4
    rest = await drain(q)
    ids = [m.message_id for m in first + rest]
    assert sorted(ids) == sorted(f"m-{i}" for i in range(10)), "each one, once"


async def test_concurrent_sends_on_one_queue_object_all_arrive(backends: Backends) -> None:
    q = backends.queue(lock_duration=30)
    await asyncio.gather(*(q.send([msg(i)]) for i in range(20)))
    assert sorted(m.message_id for m in await drain(q)) == sorted(f"m-{i}" for i in range(20))


KB = 1024


async def test_a_send_bigger_than_one_batch_is_split_and_all_of_it_arrives(
    backends: Backends,
) -> None:
    q = backends.queue(lock_duration=30)
    bodies = {f"big-{i}": bytes([i]) * (100 * KB) for i in range(3)}  # 300 KB together
    await q.send([OutgoingMessage(mid, body) for mid, body in bodies.items()])
    assert {m.message_id: m.body for m in await drain(q)} == bodies


async def test_a_message_over_256_kb_is_refused_and_nothing_of_its_send_is_sent(
    backends: Backends,
) -> None:
    q = backends.queue()
    with pytest.raises(TooLarge) as refused:
        await q.send([msg("small"), OutgoingMessage("huge", b"x" * (300 * KB))])
    assert "huge" in str(refused.value) and refused.value.limit == 256 * KB
    assert await q.receive(10, max_wait=0.3) == []


async def test_lock_expiry_redelivers_with_delivery_count_plus_one(backends: Backends) -> None:
    q = backends.queue(lock_duration=0.3)
    await q.send([msg(1)])
    first = await receive_one(q)
    assert await q.receive(1, max_wait=0.1) == [], "locked messages are invisible"
    second = await receive_one(q, max_wait=q.lock_duration + 2 + backends.slack)
    assert second.message_id == first.message_id
    assert second.delivery_count == first.delivery_count + 1
    with pytest.raises(MessageLockLost):
        await q.complete(first)  # the first holder's lock is gone
    await q.complete(second)


async def test_renew_lock_keeps_the_message(backends: Backends) -> None:
    q = backends.queue(lock_duration=0.4)
    await q.send([msg(1)])
    m = await receive_one(q)
    for _ in range(4):
        await asyncio.sleep(q.lock_duration / 2)
        until = await q.renew_lock(m)
        assert until > m.locked_until
    assert await q.receive(1, max_wait=0.1) == [], "renewed: not delivered again"
    await q.complete(m)


async def test_settling_with_a_stale_lock_raises(backends: Backends) -> None:
    q = backends.queue(lock_duration=0.2)
    await q.send([msg(1)])
    m = await receive_one(q)
    await asyncio.sleep(q.lock_duration * 1.5)
    for settle in (q.complete, q.abandon, q.renew_lock):
        with pytest.raises(MessageLockLost):
            await settle(m)
    with pytest.raises(MessageLockLost):
        await q.dead_letter(m, "r")
    done = await receive_one(q)
    await q.complete(done)
    with pytest.raises(MessageLockLost):
        await q.complete(done)  # settled twice


async def test_abandon_makes_it_receivable_at_once(backends: Backends) -> None:
    q = backends.queue(lock_duration=30)
    await q.send([msg(1)])
    m = await receive_one(q)
    await q.abandon(m)
    again = await receive_one(q, max_wait=0.5)
    assert again.delivery_count == 2


async def test_abandoned_past_max_deliveries_is_dead_lettered(backends: Backends) -> None:
    q = backends.queue(max_delivery_count=3)
    await q.send([msg(1)])
    for expected in (1, 2, 3):
        m = await receive_one(q)
        assert m.delivery_count == expected
        await q.abandon(m)
    assert await q.receive(1, max_wait=0.2) == []
    [dead] = await q.peek_dead_letters()
    assert dead.message_id == "m-1" and dead.dead_letter_reason == "MaxDeliveryCountExceeded"
    assert dead.delivery_count == 3, "a peeked message counts its deliveries from 1 too"
    depth = await q.depth()
    assert (depth.active, depth.dead_lettered) == (0, 1)


async def test_lock_expiry_past_max_deliveries_is_dead_lettered(backends: Backends) -> None:
    q = backends.queue(lock_duration=0.15, max_delivery_count=2)
    await q.send([msg(1), msg(2)])
    assert len(await receive_some(q, 2)) == 2
    await asyncio.sleep(q.lock_duration * 1.3)
    second = await receive_some(q, 2)
    assert sorted(m.delivery_count for m in second) == [2, 2]
    await asyncio.sleep(q.lock_duration * 1.3)
    assert await q.receive(2, max_wait=0.3 + backends.slack) == []
    assert sorted(m.message_id for m in await q.peek_dead_letters()) == ["m-1", "m-2"]


async def test_explicit_dead_letter_keeps_reason_and_description(backends: Backends) -> None:
    q = backends.queue()
    await q.send([msg(1)])
    m = await receive_one(q)
    await q.dead_letter(m, "MalformedMessage", "body is not JSON")
    [dead] = await q.peek_dead_letters()
    assert (dead.dead_letter_reason, dead.dead_letter_description) == (
        "MalformedMessage",
        "body is not JSON",
    )
    assert dead.body == b"body-1"


async def test_scheduled_messages_wait_until_due(backends: Backends) -> None:
    q = backends.queue(lock_duration=30)
    due = datetime.now(UTC) + timedelta(seconds=0.5 + 2 * backends.slack)
    await q.send([msg("later", scheduled_enqueue_time=due), msg("now")])
    assert [m.message_id for m in await receive_some(q, 5, 0.1 + backends.slack)] == ["m-now"]
    depth = await q.depth()
    assert depth.scheduled == 1
    assert await q.receive(1, max_wait=0.1) == []
    later = await receive_one(q, max_wait=2 + 2 * backends.slack)
    assert later.message_id == "m-later"
    assert datetime.now(UTC) >= due


async def test_duplicates_within_the_window_are_dropped(backends: Backends) -> None:
    q = backends.queue(duplicate_window=0.5, lock_duration=30)
    await q.send([OutgoingMessage("same", b"first")])
    await q.send([OutgoingMessage("same", b"second")])
    await q.send([OutgoingMessage("other", b"x")])
    got = await drain(q, max_wait=0.3)
    assert sorted((m.message_id, m.body) for m in got) == [("other", b"x"), ("same", b"first")]
    for m in got:
        await q.complete(m)
    await q.send([OutgoingMessage("same", b"third")])
    assert await q.receive(1, max_wait=0.1) == [], "still inside the window, even after completion"
    await asyncio.sleep(backends.duplicate_window * 1.2)
    await q.send([OutgoingMessage("same", b"fourth")])
    assert [m.body for m in await q.receive(1, max_wait=1)] == [b"fourth"]


async def test_two_receivers_on_separate_connections_never_share(backends: Backends) -> None:
    a = backends.queue(lock_duration=30)
    b = backends.queue(backends.database(), lock_duration=30)  # a second "process" on the same file
    await a.send([msg(i) for i in range(200)])
    seen: list[str] = []

    async def drain(q: JobQueue) -> None:
        while True:
            got = await q.receive(7, max_wait=0.3)
            if not got:
                return
            seen.extend(m.message_id for m in got)
            for m in got:
                await q.complete(m)

    await asyncio.gather(drain(a), drain(b), drain(a), drain(b))
    assert sorted(seen) == sorted(f"m-{i}" for i in range(200))


def test_receivers_in_threads_never_share(backends: Backends) -> None:
    async def fill() -> None:
        q = backends.queue(lock_duration=30)
        await q.send([msg(i) for i in range(150)])
        await q.close()  # in its own event loop, as an SDK client must be

    asyncio.run(fill())
    seen: list[str] = []
    lock = threading.Lock()

    def drain() -> None:
        async def run() -> None:
            q = backends.queue(backends.database(), lock_duration=30)
            try:
                while got := await q.receive(5, max_wait=0.3 + backends.slack):
                    with lock:
                        seen.extend(m.message_id for m in got)
            finally:
                await q.close()

        asyncio.run(run())

    threads = [threading.Thread(target=drain) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen) == sorted(f"m-{i}" for i in range(150))


async def test_depth_counts_active_scheduled_and_dead(backends: Backends) -> None:
    q = backends.queue(max_delivery_count=1)
    await q.send(
        [msg(1), msg(2), msg("s", scheduled_enqueue_time=datetime.now(UTC) + timedelta(hours=1))]
    )
    m = await receive_one(q)
    await q.abandon(m)  # one delivery allowed: dead-lettered
    depth = await q.depth()
    assert (depth.active, depth.scheduled, depth.dead_lettered) == (1, 1, 1)


async def test_dead_letters_are_peeked_in_order_from_a_sequence_number(backends: Backends) -> None:
    q = backends.queue(lock_duration=30)
    await q.send([msg(i) for i in range(4)])  # one send: sequence numbers in this order
    received = await drain(q, max_wait=1)
    assert len(received) == 4
    for message in sorted(received, key=lambda m: m.sequence_number):
        await q.dead_letter(message, "Test", f"dead {message.message_id}")
    first = await q.peek_dead_letters(2)
    assert [m.message_id for m in first] == ["m-0", "m-1"]
    rest = await q.peek_dead_letters(10, from_sequence_number=first[-1].sequence_number + 1)
    assert [m.message_id for m in rest] == ["m-2", "m-3"]
    assert rest[0].dead_letter_description == "dead m-2"
    after = await q.peek_dead_letters(10, from_sequence_number=rest[-1].sequence_number + 1)
    assert after == []
