"""Per-tenant rate counters in Azure Table storage, sharded so that submits do not
contend on one entity.

A tenant's count of one window is kept in up to SHARDS rows of the tenant's partition
(``PartitionKey`` = the tenant, ``RowKey`` = ``<window start>-<shard>``), each with a
quota: the limit divided among the shards (their quotas sum to the limit). An add reads
the window's rows in one query, takes ``n`` from shards with room left, starting at a
random one, and writes them in one transaction, each row conditional on its ETag (or
created). Two submitters collide only when they pick the same shard, about one time in
SHARDS, and the loser reads again; the total never exceeds the limit, since no shard
exceeds its quota. Reading sums the shards.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.data.tables import UpdateMode

from shared.adapters.azure.errors import translated
from shared.adapters.azure.tables import TableAdapter, odata_quote
from shared.errors import BackendUnavailable, Conflict, PreconditionFailed

ATTEMPTS = 20
#: Rows a tenant's window is spread over.
SHARDS = 16


def _row(window: datetime) -> str:
    return window.astimezone(UTC).strftime("%Y%m%dT%H%M%S")


def quota(limit: int, shard: int, shards: int = SHARDS) -> int:
    """Shard ``shard``'s share of ``limit``; the shares sum to ``limit``."""
    return limit // shards + (1 if shard < limit % shards else 0)


def allocate(
    counts: dict[int, int], n: int, limit: int, start: int, shards: int = SHARDS
) -> dict[int, int] | None:
    """How much of ``n`` each shard takes (shard -> amount), visiting shards from
    ``start`` on; None when the shards' room left is less than ``n``."""
    taken: dict[int, int] = {}
    left = n
    for step in range(shards):
        if left == 0:
            break
        shard = (start + step) % shards
        room = quota(limit, shard, shards) - counts.get(shard, 0)
        if room > 0:
            taken[shard] = min(room, left)
            left -= taken[shard]
    return taken if left == 0 else None


class TableRateCounters(TableAdapter):
    """See :class:`shared.ports.RateCounters`."""

    def __init__(self, service: Any, table_name: str, shards: int = SHARDS) -> None:
        super().__init__(service, table_name)
        self.shards = shards

    async def _window_rows(self, pk: str, window: str, what: str) -> dict[int, Any]:
        query = (
            f"PartitionKey eq {odata_quote(pk)} and RowKey ge {odata_quote(window + '-')}"
            f" and RowKey lt {odata_quote(window + '.')}"
        )
        rows: dict[int, Any] = {}
        with translated(what):
            async for entity in self.table.query_entities(query, results_per_page=1000):
                rows[int(entity["RowKey"].rsplit("-", 1)[1])] = entity
        return rows

    async def add(self, tenant_id: str, window: datetime, n: int, limit: int) -> bool:
        await self._ensure_table()
        pk, rk = tenant_id, _row(window)
        what = f"rate counter of tenant {tenant_id}"
        if n > limit:
            return False
        for attempt in range(ATTEMPTS):
            rows = await self._window_rows(pk, rk, what)
            counts = {shard: int(row["count"]) for shard, row in rows.items()}
            taken = allocate(counts, n, limit, random.randrange(self.shards), self.shards)
            if taken is None:
                return False
            operations: list[Any] = []
            for shard, amount in taken.items():
                entity = {
                    "PartitionKey": pk,
                    "RowKey": f"{rk}-{shard:02d}",
                    "count": counts.get(shard, 0) + amount,
                    "window": rk,
                }
                if shard in rows:
                    operations.append(
                        (
                            "update",
                            entity,
                            {
                                "mode": UpdateMode.REPLACE,
                                "etag": rows[shard].metadata["etag"],
                                "match_condition": MatchConditions.IfNotModified,
                            },
                        )
                    )
                else:
                    operations.append(("create", entity))
            try:
                with translated(what):
                    await self.table.submit_transaction(operations)
                return True
            except (PreconditionFailed, Conflict):
                # Another add took the same shard first: read again, after a short jitter.
                await asyncio.sleep(random.uniform(0, 0.005 * (attempt + 1)))
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
