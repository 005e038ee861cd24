"""The IdempotencyKeys contract, for every implementation."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from shared.ports import IdempotencyKeys
from tests.contract.backends import KEY_BACKENDS, Backends, port_fixture

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=24)
MakeKeys = Callable[[], IdempotencyKeys]


new_keys = port_fixture(Backends.keys, KEY_BACKENDS)


async def test_the_first_claim_creates_and_later_ones_see_it(new_keys: MakeKeys) -> None:
    keys = new_keys()
    first = await keys.claim("t1", "key-1", "hash-a", "job-1", LATER, NOW)
    assert first.created and (first.job_id, first.request_hash) == ("job-1", "hash-a")
    again = await keys.claim("t1", "key-1", "hash-b", "job-2", LATER, NOW)
    assert not again.created
    assert (again.job_id, again.request_hash) == ("job-1", "hash-a"), "unchanged by a repeat"
    assert again.expires_at == LATER


async def test_keys_belong_to_their_tenant(new_keys: MakeKeys) -> None:
    keys = new_keys()
    await keys.claim("t1", "shared", "h", "job-1", LATER, NOW)
    other = await keys.claim("t2", "shared", "h", "job-2", LATER, NOW)
    assert other.created and other.job_id == "job-2"


async def test_an_expired_key_can_be_claimed_again(new_keys: MakeKeys) -> None:
    keys = new_keys()
    await keys.claim("t1", "k", "h1", "job-1", NOW + timedelta(seconds=5), NOW)
    later = NOW + timedelta(seconds=6)
    fresh = await keys.claim("t1", "k", "h2", "job-2", later + timedelta(hours=1), later)
    assert fresh.created and fresh.job_id == "job-2"


async def test_release_forgets_only_its_own_claim(new_keys: MakeKeys) -> None:
    keys = new_keys()
    await keys.claim("t1", "k", "h", "job-1", LATER, NOW)
    await keys.release("t1", "k", "job-other")  # not its claim: no effect
    assert not (await keys.claim("t1", "k", "h", "job-2", LATER, NOW)).created
    await keys.release("t1", "k", "job-1")
    assert (await keys.claim("t1", "k", "h", "job-3", LATER, NOW)).created
    await keys.release("t1", "never-claimed", "job-9")  # harmless


async def test_any_text_can_be_a_key(new_keys: MakeKeys) -> None:
    keys = new_keys()
    for key in ["a/b?c#d", "with space", "~tilde~", "x" * 255, "'quote'"]:
        assert (await keys.claim("t1", key, "h", f"job-{key}", LATER, NOW)).created
        assert not (await keys.claim("t1", key, "h", "other", LATER, NOW)).created


async def test_of_racing_claims_exactly_one_creates(new_keys: MakeKeys) -> None:
    clients = [new_keys() for _ in range(4)]  # separate clients, as separate instances
    results = await asyncio.gather(
        *(c.claim("t1", "race", "h", f"job-{i}", LATER, NOW) for i, c in enumerate(clients))
    )
    assert sum(r.created for r in results) == 1
    assert len({r.job_id for r in results}) == 1, "every claim names the winner's job"


async def test_expired_records_are_purged(new_keys: MakeKeys) -> None:
    keys = new_keys()
    await keys.claim("t1", "old", "h", "job-1", NOW + timedelta(seconds=1), NOW)
    await keys.claim("t2", "old", "h", "job-2", NOW + timedelta(seconds=1), NOW)
    await keys.claim("t1", "live", "h", "job-3", LATER, NOW)
    later = NOW + timedelta(minutes=1)
    assert await keys.purge_expired(later, limit=10) == 2
    assert await keys.purge_expired(later, limit=10) == 0
    assert not (await keys.claim("t1", "live", "h", "x", LATER, later)).created
