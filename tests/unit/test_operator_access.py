"""Access.caller: which tenant a request acts for, and whether it is the operator (an
API key listed in DTQ_OPERATOR_KEY_IDS, or the keyless host's default tenant)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.access import Access, operator_key_ids
from shared.adapters.sqlite import Database
from shared.adapters.sqlite.api_keys import SqliteApiKeyStore
from shared.errors import Unauthorized
from shared.settings import Settings


@pytest.fixture
def store(tmp_path: Path) -> SqliteApiKeyStore:
    return SqliteApiKeyStore(Database(tmp_path / "keys.sqlite3"))


async def test_only_a_listed_key_is_the_operator(store: SqliteApiKeyStore) -> None:
    gate = Access(store, require_keys=True, default_tenant="local")
    ops, ops_token = await gate.create_key("ops")
    _, tenant_token = await gate.create_key("acme")
    listing = Access(store, require_keys=True, default_tenant="local", operator_keys={ops.key_id})

    operator = await listing.caller({"X-API-Key": ops_token})
    assert (operator.tenant_id, operator.key_id, operator.operator) == ("ops", ops.key_id, True)
    tenant = await listing.caller({"X-API-Key": tenant_token})
    assert (tenant.tenant_id, tenant.operator) == ("acme", False)
    unlisted = await gate.caller({"X-API-Key": ops_token})
    assert unlisted.operator is False, "no key is the operator unless the setting names it"
    with pytest.raises(Unauthorized):
        await listing.caller({})


async def test_the_keyless_default_tenant_is_the_operator(store: SqliteApiKeyStore) -> None:
    gate = Access(store, require_keys=False, default_tenant="local")
    keyless = await gate.caller({})
    assert (keyless.tenant_id, keyless.key_id, keyless.operator) == ("local", None, True)
    _, token = await gate.create_key("acme")
    assert (await gate.caller({"X-API-Key": token})).operator is False, "a key is a tenant"


async def test_a_client_principal_is_never_the_operator(store: SqliteApiKeyStore) -> None:
    gate = Access(store, require_keys=False, default_tenant="local", trust_client_principal=True)
    principal = {"userId": "u1", "userRoles": ["tenant-acme"]}
    header = base64.b64encode(json.dumps(principal).encode()).decode()
    caller = await gate.caller({"x-ms-client-principal": header})
    assert (caller.tenant_id, caller.operator) == ("acme", False)


def test_the_setting_lists_key_ids() -> None:
    assert operator_key_ids("") == frozenset()
    assert operator_key_ids(" 0123456789ab, ba9876543210 ") == {"0123456789ab", "ba9876543210"}
    settings = Settings(operator_key_ids="0123456789ab")
    assert operator_key_ids(settings.operator_key_ids) == {"0123456789ab"}
    with pytest.raises(ValidationError):
        Settings(operator_key_ids="dtq_0123456789ab_secret")  # a token, not its id
