"""Running-job slots in Azure Table storage: ``PartitionKey`` = the tenant, ``RowKey`` =
the slot number (``00`` .. cap-1), holding a job id and a lease. Taking a slot is a
create (a free number) or a write conditional on the ETag (an expired lease), so two
workers can never hold one slot; a job holding a slot renews it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.data.tables import UpdateMode

from shared.adapters.azure.errors import translated
from shared.adapters.azure.tables import TableAdapter, odata_quote
from shared.errors import BackendUnavailable, Conflict, NotFound, PreconditionFailed

ATTEMPTS = 10


class TableRunSlots(TableAdapter):
    """See :class:`shared.ports.RunSlots`."""

    async def _slots(self, tenant_id: str) -> list[Any]:
        with translated(f"running slots of tenant {tenant_id}"):
            return [
                e
                async for e in self.table.query_entities(
                    f"PartitionKey eq {odata_quote(tenant_id)}"
                )
            ]

    async def acquire(
        self, tenant_id: str, job_id: str, cap: int, lease_until: datetime, now: datetime
    ) -> bool:
        await self._ensure_table()
        what = f"running slots of tenant {tenant_id}"
        for _ in range(ATTEMPTS):
            slots = {e["RowKey"]: e for e in await self._slots(tenant_id)}
            mine = next((e for e in slots.values() if e["job_id"] == job_id), None)
            live = [
                e
                for key, e in slots.items()
                if int(key) < cap and datetime.fromisoformat(e["lease_until"]) >= now
            ]
            if mine is None and len(live) >= cap:
                return False
            if mine is not None:
                target, etag = mine, mine.metadata["etag"]
            else:
                free = [f"{i:02d}" for i in range(cap) if f"{i:02d}" not in slots]
                expired = [
                    e
                    for key, e in slots.items()
                    if int(key) < cap and datetime.fromisoformat(e["lease_until"]) < now
                ]
                if free:
                    target, etag = {"PartitionKey": tenant_id, "RowKey": free[0]}, None
                elif expired:
                    target, etag = expired[0], expired[0].metadata["etag"]
                else:
                    return False
            entity = {
                "PartitionKey": tenant_id,
                "RowKey": target["RowKey"],
                "job_id": job_id,
                "lease_until": lease_until.isoformat(),
            }
            try:
                with translated(what):
                    if etag is None:
                        await self.table.create_entity(entity)
                    else:
                        await self.table.update_entity(
                            entity,
                            mode=UpdateMode.REPLACE,
                            etag=etag,
                            match_condition=MatchConditions.IfNotModified,
                        )
                return True
            except (Conflict, PreconditionFailed, NotFound):
                continue  # another worker took that slot first: look again
        raise BackendUnavailable(f"{what}: too contended", retry_after=1)

    async def release(self, tenant_id: str, job_id: str) -> None:
        await self._ensure_table()
        for entity in await self._slots(tenant_id):
            if entity["job_id"] != job_id:
                continue
            try:
                with translated(f"running slots of tenant {tenant_id}"):
                    await self.table.delete_entity(
                        tenant_id,
                        entity["RowKey"],
                        etag=entity.metadata["etag"],
                        match_condition=MatchConditions.IfNotModified,
                    )
            except (PreconditionFailed, NotFound):
                pass  # taken over meanwhile (its lease had expired)
