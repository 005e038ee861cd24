"""API keys in Azure Table storage: one small table, ``PartitionKey`` = the key id and
``RowKey`` = ``"key"``, so checking a request's key is a point read; listing a tenant's
keys (an administrator's command) scans the table. Hashes only: a key's secret is never
stored."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from shared.adapters.azure.errors import translated
from shared.adapters.azure.tables import TableAdapter, odata_quote
from shared.ports import ApiKey

ROW = "key"


class TableApiKeyStore(TableAdapter):
    """See :class:`shared.ports.ApiKeyStore`."""

    @staticmethod
    def _key(entity: Any) -> ApiKey:
        revoked = entity.get("revoked_at")
        return ApiKey(
            key_id=entity["PartitionKey"],
            tenant_id=entity["tenant_id"],
            name=entity["name"],
            secret_hash=entity["secret_hash"],
            created_at=datetime.fromisoformat(entity["created_at"]),
            revoked_at=datetime.fromisoformat(revoked) if revoked else None,
        )

    async def add(self, key: ApiKey) -> None:
        await self._ensure_table()
        with translated(f"API key {key.key_id}"):
            await self.table.create_entity(
                {
                    "PartitionKey": key.key_id,
                    "RowKey": ROW,
                    "tenant_id": key.tenant_id,
                    "name": key.name,
                    "secret_hash": key.secret_hash,
                    "created_at": key.created_at.isoformat(),
                }
            )

    async def _entity(self, key_id: str) -> Any:
        await self._ensure_table()
        with translated(f"API key {key_id}"):
            return await self.table.get_entity(key_id, ROW)

    async def get(self, key_id: str) -> ApiKey:
        return self._key(await self._entity(key_id))

    async def list(self, tenant_id: str | None = None) -> builtins.list[ApiKey]:
        await self._ensure_table()
        query = "" if tenant_id is None else f"tenant_id eq {odata_quote(tenant_id)}"
        with translated("API keys"):
            if query:
                found = [self._key(e) async for e in self.table.query_entities(query)]
            else:
                found = [self._key(e) async for e in self.table.list_entities()]
        return sorted(found, key=lambda k: (k.created_at, k.key_id))

    async def revoke(self, key_id: str, at: datetime) -> ApiKey:
        entity = await self._entity(key_id)
        if not entity.get("revoked_at"):
            entity["revoked_at"] = at.isoformat()
            with translated(f"API key {key_id}"):
                await self.table.upsert_entity(entity)
        return self._key(entity)
