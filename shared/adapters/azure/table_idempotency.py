"""Idempotency keys in Azure Table storage.

``PartitionKey = "<tenant>~<shard>"`` (``shard = crc32(key) % 8``, spreading a busy
tenant's keys like its status rows), ``RowKey`` = SHA-256 of the key (keys may hold
characters a RowKey cannot). A claim is ``create_entity`` (fails if the row exists);
an expired row is taken over with a write conditional on its ETag, so of two racing
claims exactly one wins. Expired rows stay until overwritten or purged by retention.
"""

from __future__ import annotations

import hashlib
import zlib
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.data.tables import UpdateMode

from shared.adapters.azure.errors import translated
from shared.adapters.azure.tables import TableAdapter, tenant_key
from shared.errors import Conflict, NotFound, PreconditionFailed
from shared.ports import IdempotencyRecord

SHARDS = 8


class TableIdempotencyKeys(TableAdapter):
    """See :class:`shared.ports.IdempotencyKeys`."""

    @staticmethod
    def _keys(tenant_id: str, key: str) -> tuple[str, str]:
        shard = zlib.crc32(key.encode()) % SHARDS
        return f"{tenant_key(tenant_id)}~{shard:02d}", hashlib.sha256(key.encode()).hexdigest()

    @staticmethod
    def _record(entity: Any, created: bool) -> IdempotencyRecord:
        return IdempotencyRecord(
            job_id=entity["job_id"],
            request_hash=entity["request_hash"],
            expires_at=datetime.fromisoformat(entity["expires_at"]),
            created=created,
        )

    async def claim(
        self,
        tenant_id: str,
        key: str,
        request_hash: str,
        job_id: str,
        expires_at: datetime,
        now: datetime,
    ) -> IdempotencyRecord:
        await self._ensure_table()
        pk, rk = self._keys(tenant_id, key)
        entity = {
            "PartitionKey": pk,
            "RowKey": rk,
            "job_id": job_id,
            "request_hash": request_hash,
            "expires_at": expires_at.isoformat(),
        }
        for _ in range(3):
            try:
                with translated(f"idempotency key of tenant {tenant_id}"):
                    await self.table.create_entity(entity)
                return self._record(entity, created=True)
            except Conflict:
                pass
            try:
                with translated(f"idempotency key of tenant {tenant_id}"):
                    existing = await self.table.get_entity(pk, rk)
            except NotFound:
                continue  # released meanwhile: try to create it again
            if datetime.fromisoformat(existing["expires_at"]) > now:
                return self._record(existing, created=False)
            try:
                with translated(f"idempotency key of tenant {tenant_id}"):
                    await self.table.update_entity(
                        entity,
                        mode=UpdateMode.REPLACE,
                        etag=existing.metadata["etag"],
                        match_condition=MatchConditions.IfNotModified,
                    )
                return self._record(entity, created=True)
            except (PreconditionFailed, NotFound):
                continue  # another claim took it over first: look again
        raise Conflict("the idempotency key is contended; retry the request")

    async def release(self, tenant_id: str, key: str, job_id: str) -> None:
        await self._ensure_table()
        pk, rk = self._keys(tenant_id, key)
        try:
            with translated(f"idempotency key of tenant {tenant_id}"):
                existing = await self.table.get_entity(pk, rk)
                if existing["job_id"] == job_id:
                    await self.table.delete_entity(
                        pk,
                        rk,
                        etag=existing.metadata["etag"],
                        match_condition=MatchConditions.IfNotModified,
                    )
        except (NotFound, PreconditionFailed):
            return

    async def purge_expired(self, now: datetime, limit: int) -> int:
        await self._ensure_table()
        query = f"expires_at lt '{now.isoformat()}'"
        deleted = 0
        with translated(f"table {self.table_name}"):
            async for entity in self.table.query_entities(
                query, select=["PartitionKey", "RowKey"], results_per_page=1000
            ):
                await self.table.delete_entity(entity["PartitionKey"], entity["RowKey"])
                deleted += 1
                if deleted >= limit:
                    break
        return deleted
