"""The RunSlots contract (the per-tenant running cap), for every implementation."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from shared.ports import RunSlots
from tests.contract.backends import SLOT_BACKENDS, Backends, port_fixture

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
LEASE = NOW + timedelta(minutes=10)
MakeSlots = Callable[[], RunSlots]


new_slots = port_fixture(Backends.slots, SLOT_BACKENDS)


async def test_a_tenant_holds_at_most_cap_slots(new_slots: MakeSlots) -> None:
    slots = new_slots()
    got = [await slots.acquire("t1", f"j{i}", 2, LEASE, NOW) for i in range(3)]
    assert got == [True, True, False]
    assert await slots.acquire("t1", "j0", 2, LEASE, NOW), "a holder renews its own slot"
    assert await slots.acquire("t2", "k0", 2, LEASE, NOW), "other tenants count alone"
    await slots.release("t1", "j0")
    assert await slots.acquire("t1", "j2", 2, LEASE, NOW)
    assert not await slots.acquire("t1", "j3", 2, LEASE, NOW)
    await slots.release("t1", "nobody")  # harmless


async def test_an_expired_lease_frees_its_slot(new_slots: MakeSlots) -> None:
    slots = new_slots()
    assert await slots.acquire("t1", "crashed", 1, NOW + timedelta(seconds=5), NOW)
    assert not await slots.acquire("t1", "next", 1, LEASE, NOW + timedelta(seconds=4))
    later = NOW + timedelta(seconds=6)
    assert await slots.acquire("t1", "next", 1, LEASE, later)
    assert not await slots.acquire("t1", "crashed", 1, LEASE, later), "its lease is gone"


async def test_concurrent_acquires_never_exceed_the_cap(new_slots: MakeSlots) -> None:
    clients = [new_slots() for _ in range(4)]  # separate clients, as separate workers
    got = await asyncio.gather(
        *(clients[i % 4].acquire("t1", f"j{i}", 3, LEASE, NOW) for i in range(12))
    )
    assert sum(got) == 3
