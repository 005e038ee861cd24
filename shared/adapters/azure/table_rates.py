"""Per-tenant rate counters in Azure Table storage: ``PartitionKey`` = the tenant,
``RowKey`` = the window's start; an add is a read and a write conditional on the ETag
(or a create), retried when another instance wrote first."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from azure.core import MatchConditions
from azure.data.tables import UpdateMode

from shared.adapters.azure.errors import translated
from shared.adapters.azure.tables import TableAdapter
from shared.errors import BackendUnavailable, Conflict, NotFound, PreconditionFailed

ATTEMPTS = 20


def _row(window: datetime) -> str:
    return window.astimezone(UTC).strftime("%Y%m%dT%H%M%S")


class TableRateCounters(TableAdapter):
    """See :class:`shared.ports.RateCounters`."""

    async def add(self, tenant_id: str, window: datetime, n: int, limit: int) -> bool:
        await self._ensure_table()
        pk, rk = tenant_id, _row(window)
        what = f"rate counter of tenant {tenant_id}"
        for attempt in range(ATTEMPTS):
            try:
                with translated(what):
                    entity = await self.table.get_entity(pk, rk)
            except NotFound:
                if n > limit:
                    return False
                try:
                    with translated(what):
                        await self.table.create_entity(
                            {"PartitionKey": pk, "RowKey": rk, "count": n, "window": rk}
                        )
                    return True
                except Conflict:
                    continue  # another instance created it first
            if int(entity["count"]) + n > limit:
                return False
            entity["count"] = int(entity["count"]) + n
            try:
                with translated(what):
                    await self.table.update_entity(
                        entity,
                        mode=UpdateMode.REPLACE,
                        etag=entity.metadata["etag"],
                        match_condition=MatchConditions.IfNotModified,
                    )
                return True
            except PreconditionFailed:
                await asyncio.sleep(0.005 * (attempt + 1))  # contended: read again
        raise BackendUnavailable(f"{what}: too contended", retry_after=1)

    async def purge_before(self, window: datetime, limit: int) -> int:
        await self._ensure_table()
        deleted = 0
        with translated(f"table {self.table_name}"):
            async for entity in self.table.query_entities(
                f"window lt '{_row(window)}'", select=["PartitionKey", "RowKey"]
            ):
                await self.table.delete_entity(entity["PartitionKey"], entity["RowKey"])
                deleted += 1
                if deleted >= limit:
                    break
        return deleted
