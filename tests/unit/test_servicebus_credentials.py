"""One credential per process and identity: every Azure client of a Runtime built with
identity-based connections shares it, instead of each building its own (and each
fetching its own tokens on a cold start)."""

from __future__ import annotations

import asyncio
import weakref
from pathlib import Path
from typing import Any

import pytest
from azure.identity.aio import DefaultAzureCredential

from shared.adapters.azure import connections
from shared.composition import Runtime
from shared.settings import Settings

CLIENT_ID = "00000000-0000-0000-0000-000000000001"


class CountedCredential(DefaultAzureCredential):
    made: list[CountedCredential] = []

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.client_id = kwargs.get("managed_identity_client_id")
        CountedCredential.made.append(self)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[CountedCredential]:
    monkeypatch.setattr("azure.identity.aio.DefaultAzureCredential", CountedCredential)
    monkeypatch.setattr(connections, "_credentials", weakref.WeakKeyDictionary())
    monkeypatch.setattr(connections, "_credentials_outside_a_loop", {})
    CountedCredential.made = []
    return CountedCredential.made


def identity_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "queue_backend": "servicebus",
        "status_backend": "table",
        "servicebus_namespace": "dtq-test.servicebus.windows.net",
        "servicebus_client_id": CLIENT_ID,
        "table_service_uri": "https://dtqtest.table.core.windows.net",
        "table_client_id": CLIENT_ID,
    }
    return Settings.load(None, **{**values, **overrides})


async def test_a_runtime_on_one_identity_builds_one_credential(
    tmp_path: Path, counted: list[CountedCredential]
) -> None:
    rt = Runtime.from_settings(identity_settings(tmp_path))
    try:
        assert len(counted) == 1, f"{len(counted)} credentials for one identity"
        assert counted[0].client_id == CLIENT_ID
        again = Runtime.from_settings(identity_settings(tmp_path))
        await again.close()
        assert len(counted) == 1, "a second runtime in the process reuses it"
    finally:
        await rt.close()


async def test_each_identity_gets_its_own_credential(
    tmp_path: Path, counted: list[CountedCredential]
) -> None:
    other = "00000000-0000-0000-0000-000000000002"
    rt = Runtime.from_settings(identity_settings(tmp_path, table_client_id=other))
    try:
        assert {c.client_id for c in counted} == {CLIENT_ID, other} and len(counted) == 2
        assert connections.credential(other) is connections.credential(other)
        assert connections.credential(None) is not connections.credential(other)
    finally:
        await rt.close()


def test_each_event_loop_gets_its_own_credential(counted: list[CountedCredential]) -> None:
    """An asyncio credential's HTTP session belongs to the loop that first used it: a
    process running loops one after another (the CLI, tests) must not share one."""

    async def made() -> Any:
        return connections.credential(CLIENT_ID), connections.credential(CLIENT_ID)

    first_a, first_b = asyncio.run(made())
    second, _ = asyncio.run(made())
    assert first_a is first_b
    assert second is not first_a
