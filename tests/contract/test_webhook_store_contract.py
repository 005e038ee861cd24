"""The WebhookStore contract (webhook secrets and the webhook outbox), for every
implementation."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from shared.ports import PendingDelivery, WebhookStore
from tests.contract.backends import WEBHOOK_BACKENDS, Backends, port_fixture

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
MakeStore = Callable[[], WebhookStore]

new_store = port_fixture(Backends.webhooks, WEBHOOK_BACKENDS)


async def test_the_first_secret_is_kept_once_even_when_made_concurrently(
    new_store: MakeStore,
) -> None:
    one, two = new_store(), new_store()
    got = await asyncio.gather(one.secrets("acme", "whsec_AAAA"), two.secrets("acme", "whsec_BBBB"))
    assert got[0] == got[1]
    assert got[0].current in ("whsec_AAAA", "whsec_BBBB") and got[0].previous is None
    assert (await one.secrets("acme", "whsec_CCCC")).current == got[0].current
    assert (await one.secrets("other", "whsec_DDDD")).current == "whsec_DDDD", "per tenant"


async def test_a_rotation_keeps_the_replaced_secret_until_the_time_given(
    new_store: MakeStore,
) -> None:
    store = new_store()
    await store.secrets("acme", "whsec_AAAA")
    rotated = await store.rotate("acme", "whsec_BBBB", T0 + timedelta(days=1))
    assert (rotated.current, rotated.previous) == ("whsec_BBBB", "whsec_AAAA")
    assert rotated.previous_until == T0 + timedelta(days=1)
    assert await new_store().secrets("acme", "whsec_ZZZZ") == rotated
    again = await store.rotate("acme", "whsec_CCCC", T0)
    assert (again.current, again.previous) == ("whsec_CCCC", "whsec_BBBB")
    fresh = await store.rotate("newcomer", "whsec_EEEE", T0)
    assert (fresh.current, fresh.previous) == ("whsec_EEEE", None)


def pending(n: int, minutes: float) -> PendingDelivery:
    return PendingDelivery("acme", f"job{n}", f"evt_job{n}_0", T0 + timedelta(minutes=minutes))


async def test_the_outbox_gives_the_due_rows_earliest_first_until_forgotten(
    new_store: MakeStore,
) -> None:
    store = new_store()
    for n, minutes in [(1, 5), (2, 1), (3, 9), (4, 1.5)]:
        await store.track(pending(n, minutes))
    await store.track(pending(2, 1))  # again: nothing changes
    due = await store.due(T0 + timedelta(minutes=6), 10)
    assert [p.job_id for p in due] == ["job2", "job4", "job1"]
    assert due[0] == pending(2, 1)
    assert [p.job_id for p in await store.due(T0 + timedelta(minutes=6), 2)] == ["job2", "job4"]
    await store.forget(due[0])
    await store.forget(due[0])  # forgetting twice is fine
    assert [p.job_id for p in await new_store().due(T0 + timedelta(hours=1), 10)] == [
        "job4",
        "job1",
        "job3",
    ]
    assert await store.due(T0, 10) == []
