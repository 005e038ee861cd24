"""The ApiKeyStore contract, for every implementation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from shared.errors import Conflict, NotFound
from shared.ports import ApiKey, ApiKeyStore
from tests.contract.backends import API_KEY_BACKENDS, Backends, port_fixture

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
MakeStore = Callable[[], ApiKeyStore]


new_store = port_fixture(Backends.api_keys, API_KEY_BACKENDS)


def key(key_id: str, tenant: str, minutes: int = 0) -> ApiKey:
    return ApiKey(key_id, tenant, f"{key_id} key", "ab" * 32, T0 + timedelta(minutes=minutes))


async def test_add_get_and_list(new_store: MakeStore) -> None:
    store = new_store()
    await store.add(key("aaaaaaaaaaa1", "acme", 1))
    await store.add(key("aaaaaaaaaaa2", "other", 2))
    await store.add(key("aaaaaaaaaaa3", "acme", 3))
    got = await store.get("aaaaaaaaaaa1")
    assert got == key("aaaaaaaaaaa1", "acme", 1)
    assert [k.key_id for k in await store.list("acme")] == ["aaaaaaaaaaa1", "aaaaaaaaaaa3"]
    assert [k.key_id for k in await store.list()] == [
        "aaaaaaaaaaa1",
        "aaaaaaaaaaa2",
        "aaaaaaaaaaa3",
    ]
    assert await store.list("nobody") == []
    with pytest.raises(NotFound):
        await store.get("000000000000")
    with pytest.raises(Conflict):
        await store.add(key("aaaaaaaaaaa1", "acme"))


async def test_revoke_keeps_the_first_time(new_store: MakeStore) -> None:
    store = new_store()
    await store.add(key("bbbbbbbbbbb1", "acme"))
    revoked = await store.revoke("bbbbbbbbbbb1", T0 + timedelta(hours=1))
    assert revoked.revoked_at == T0 + timedelta(hours=1)
    again = await store.revoke("bbbbbbbbbbb1", T0 + timedelta(hours=2))
    assert again.revoked_at == T0 + timedelta(hours=1)
    assert (await store.get("bbbbbbbbbbb1")).revoked_at == T0 + timedelta(hours=1)
    with pytest.raises(NotFound):
        await store.revoke("000000000000", T0)
