"""Access: which tenant a request acts for."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from shared.access import Access
from shared.adapters.sqlite import Database
from shared.adapters.sqlite.api_keys import SqliteApiKeyStore
from shared.errors import Unauthorized, ValidationFailed


@pytest.fixture
def store(tmp_path: Path) -> SqliteApiKeyStore:
    return SqliteApiKeyStore(Database(tmp_path / "keys.sqlite3"))


def access(store: SqliteApiKeyStore, **options: object) -> Access:
    defaults: dict[str, object] = {"require_keys": True, "default_tenant": "local"}
    return Access(store, **{**defaults, **options})  # type: ignore[arg-type]


async def test_a_key_names_its_tenant_in_either_header(store: SqliteApiKeyStore) -> None:
    gate = access(store)
    key, token = await gate.create_key("acme", "ci")
    assert token.startswith(f"dtq_{key.key_id}_") and len(token) == 60
    assert await gate.tenant_of({"Authorization": f"Bearer {token}"}) == "acme"
    assert await gate.tenant_of({"x-api-key": token}) == "acme"
    stored = await store.get(key.key_id)
    assert token.split("_", 2)[2] not in stored.secret_hash, "only a hash is stored"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer nonsense"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"X-API-Key": "dtq_000000000000_" + "A" * 43},
    ],
)
async def test_without_a_valid_key_it_is_401_when_keys_are_required(
    store: SqliteApiKeyStore, headers: dict[str, str]
) -> None:
    with pytest.raises(Unauthorized):
        await access(store).tenant_of(headers)


async def test_a_wrong_secret_or_a_revoked_key_is_refused(store: SqliteApiKeyStore) -> None:
    gate = access(store, cache_seconds=0)
    key, token = await gate.create_key("acme")
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    with pytest.raises(Unauthorized, match="not valid"):
        await gate.tenant_of({"X-API-Key": forged})
    await gate.revoke_key(key.key_id)
    with pytest.raises(Unauthorized, match="revoked"):
        await gate.tenant_of({"X-API-Key": token})


async def test_without_keys_required_anonymous_requests_get_the_default_tenant(
    store: SqliteApiKeyStore,
) -> None:
    gate = access(store, require_keys=False)
    assert await gate.tenant_of({}) == "local"
    with pytest.raises(Unauthorized):
        await gate.tenant_of({"X-API-Key": "bad"}), "a bad key is never ignored"


def principal(**fields: object) -> dict[str, str]:
    return {"x-ms-client-principal": base64.b64encode(json.dumps(fields).encode()).decode()}


async def test_the_static_web_apps_principal_only_when_trusted(store: SqliteApiKeyStore) -> None:
    trusted = access(store, trust_client_principal=True)
    assert await trusted.tenant_of(principal(userId="u123", userRoles=["anonymous"])) == (
        "user-u123"
    )
    assert await trusted.tenant_of(principal(userId="u1", userRoles=["tenant-acme"])) == "acme"
    with pytest.raises(Unauthorized):
        await trusted.tenant_of({"x-ms-client-principal": "not base64!"})
    with pytest.raises(Unauthorized):
        await access(store).tenant_of(principal(userId="u123")), "ignored unless trusted"


async def test_tenant_ids_are_checked(store: SqliteApiKeyStore) -> None:
    with pytest.raises(ValidationFailed):
        await access(store).create_key("bad~tenant")
