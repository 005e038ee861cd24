"""The ScheduleStore contract (schedules and their tick claims), for every
implementation."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from shared.errors import Conflict, NotFound, PreconditionFailed
from shared.schedules.model import JobTemplate, Schedule, TickClaim, TickOutcome
from shared.schedules.port import ScheduleStore
from tests.contract.backends import SCHEDULE_BACKENDS, Backends, port_fixture

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
MakeStore = Callable[[], ScheduleStore]

new_store = port_fixture(Backends.schedules, SCHEDULE_BACKENDS)


def schedule(sid: str, tenant: str = "acme", fire_in: float | None = 1.0) -> Schedule:
    return Schedule(
        tenant_id=tenant,
        schedule_id=sid,
        name=f"every minute {sid}",
        cron="* * * * *",
        timezone="Europe/London",
        template=JobTemplate(job_type="echo", payload={"n": 1}),
        next_fire_at=None if fire_in is None else T0 + timedelta(minutes=fire_in),
        created_at=T0,
        updated_at=T0,
    )


async def test_a_schedule_is_stored_once_read_back_per_tenant_and_deleted(
    new_store: MakeStore,
) -> None:
    store = new_store()
    stored = await store.create(schedule("s1"))
    assert stored.etag
    with pytest.raises(Conflict):
        await store.create(schedule("s1"))
    got = await new_store().get("acme", "s1")
    assert got == stored and got.etag == stored.etag
    assert got.template.payload == {"n": 1} and got.next_fire_at == T0 + timedelta(minutes=1)
    with pytest.raises(NotFound):
        await store.get("other", "s1")
    await store.delete("acme", "s1")
    await store.delete("acme", "s1")  # twice is fine
    with pytest.raises(NotFound):
        await store.get("acme", "s1")
    assert await store.due(T0 + timedelta(days=1), 10) == []


async def test_a_replace_needs_the_current_etag(new_store: MakeStore) -> None:
    one, two = new_store(), new_store()
    first = await one.create(schedule("s1"))
    changed = await one.replace(first.model_copy(update={"name": "renamed", "paused": True}))
    assert changed.etag != first.etag
    assert (await two.get("acme", "s1")).name == "renamed"
    with pytest.raises(PreconditionFailed):
        await two.replace(first.model_copy(update={"name": "stale"}))
    with pytest.raises(NotFound):
        await two.replace(schedule("gone").model_copy(update={"etag": first.etag}))
    racing = await asyncio.gather(
        one.replace(changed.model_copy(update={"name": "a"})),
        two.replace(changed.model_copy(update={"name": "b"})),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in racing) == ["PreconditionFailed", "Schedule"]


async def test_lists_are_per_tenant_by_id_a_page_at_a_time(new_store: MakeStore) -> None:
    store = new_store()
    for sid in ["s3", "s1", "s2"]:
        await store.create(schedule(sid))
    await store.create(schedule("s0", tenant="other"))
    page = await store.list_schedules("acme", 2)
    assert [s.schedule_id for s in page.items] == ["s1", "s2"] and page.next_cursor
    rest = await store.list_schedules("acme", 2, page.next_cursor)
    assert [s.schedule_id for s in rest.items] == ["s3"] and rest.next_cursor is None


async def test_due_gives_every_tenants_due_schedules_earliest_first(
    new_store: MakeStore,
) -> None:
    store = new_store()
    await store.create(schedule("late", fire_in=5))
    await store.create(schedule("early", tenant="other", fire_in=2))
    await store.create(schedule("paused", fire_in=None))
    exact = await store.create(schedule("exact", fire_in=3))
    due = await new_store().due(T0 + timedelta(minutes=3), 10)
    assert [s.schedule_id for s in due] == ["early", "exact"]
    assert [s.schedule_id for s in await store.due(T0 + timedelta(hours=1), 1)] == ["early"]
    # Moving a schedule's next fire moves it in the due order; paused leaves it.
    moved = await store.replace(
        exact.model_copy(update={"next_fire_at": T0 + timedelta(minutes=9)})
    )
    due = await store.due(T0 + timedelta(hours=1), 10)
    assert [s.schedule_id for s in due] == ["early", "late", "exact"]
    assert due[2].etag == moved.etag
    await store.replace(moved.model_copy(update={"next_fire_at": None}))
    assert [s.schedule_id for s in await store.due(T0 + timedelta(hours=1), 10)] == [
        "early",
        "late",
    ]


def claim(tick_minutes: float, holder: str, sid: str = "s1", tenant: str = "acme") -> TickClaim:
    return TickClaim(tenant, sid, T0 + timedelta(minutes=tick_minutes), T0, holder)


async def test_a_tick_is_claimed_once_whoever_races(new_store: MakeStore) -> None:
    stores = [new_store() for _ in range(4)]
    got = await asyncio.gather(*(s.claim_tick(claim(1, f"h{i}")) for i, s in enumerate(stores)))
    assert sum(c.created for c in got) == 1
    winner = next(c for c in got if c.created).holder
    assert {c.holder for c in got} == {winner}, "the losers see the winner's claim"
    assert not (await stores[0].claim_tick(claim(1, "late"))).created
    assert (await stores[0].claim_tick(claim(2, "late"))).created, "another tick"
    assert (await stores[0].claim_tick(claim(1, "x", sid="s2"))).created, "another schedule"


async def test_a_ticks_outcome_is_recorded_and_ticks_read_newest_first(
    new_store: MakeStore,
) -> None:
    store = new_store()
    for minutes in (1, 3, 2):
        await store.claim_tick(claim(minutes, "h"))
    done = TickClaim("acme", "s1", T0 + timedelta(minutes=3), T0, "h", TickOutcome.SUBMITTED, "j3")
    await store.record_tick(done)
    ticks = await new_store().ticks("acme", "s1", 10)
    assert [t.tick_at for t in ticks] == [T0 + timedelta(minutes=m) for m in (3, 2, 1)]
    assert ticks[0] == done
    assert ticks[1].outcome is TickOutcome.CLAIMED and ticks[1].job_id is None
    assert len(await store.ticks("acme", "s1", 2)) == 2
    assert await store.ticks("other", "s1", 10) == []


@pytest.mark.parametrize("odd", ["a/b", "a#b", "a?b", "a\\\\b", "é", "x" * 300])
async def test_an_id_no_schedule_can_have_is_not_found(new_store: MakeStore, odd: str) -> None:
    store = new_store()
    with pytest.raises(NotFound):
        await store.get("acme", odd)
    await store.delete("acme", odd)
    assert await store.ticks("acme", odd, 5) == []


async def test_tick_claims_before_a_time_are_purged_in_batches_across_schedules(
    new_store: MakeStore,
) -> None:
    """Retention deletes the claims of ticks before its cutoff, of every schedule and
    tenant (a deleted schedule's too), at most ``limit`` a call; later ticks stay."""
    store = new_store()
    for minutes in range(1, 6):
        for sid, tenant in (("s1", "acme"), ("s2", "acme"), ("s1", "umbrella")):
            await store.claim_tick(claim(minutes, "h", sid=sid, tenant=tenant))
    cutoff = T0 + timedelta(minutes=3)  # ticks at minutes 1 and 2 are before it
    assert await store.purge_ticks(cutoff, limit=4) == 4
    assert await store.purge_ticks(cutoff, limit=4) == 2
    assert await store.purge_ticks(cutoff, limit=4) == 0
    for sid, tenant in (("s1", "acme"), ("s2", "acme"), ("s1", "umbrella")):
        ticks = await store.ticks(tenant, sid, 10)
        assert [t.tick_at for t in ticks] == [T0 + timedelta(minutes=m) for m in (5, 4, 3)]
    assert (await store.claim_tick(claim(4, "late"))).holder == "h", "kept claims still win"
