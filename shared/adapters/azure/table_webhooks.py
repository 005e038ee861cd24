"""Webhook secrets and the webhook outbox in Azure Table storage (one table,
``DTQ_WEBHOOKS_TABLE``):

- a tenant's secrets: ``PartitionKey`` = ``secret.<tenant>``, ``RowKey`` = ``secret``
  (a point read per delivery; created by an insert, so concurrent first reads agree;
  rotated by a write conditional on the ETag);
- the outbox: ``PartitionKey`` = ``outbox``, ``RowKey`` = the due time in microseconds
  (16 digits) + ``.`` + the event id, so the sweep reads the due rows as one RowKey
  range, costing what it returns. A row lives from a job's end until the next sweep
  after its due time (about a minute), so the partition holds few rows; its scale
  target (about 2,000 writes a second) bounds webhook-carrying job ends to about
  1,000 a second.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.data.tables import UpdateMode

from shared.adapters.azure.errors import translated
from shared.adapters.azure.tables import TableAdapter, odata_quote, tenant_key
from shared.errors import Conflict, NotFound, PreconditionFailed
from shared.ports import PendingDelivery, WebhookSecrets

SECRET_ROW = "secret"
OUTBOX = "outbox"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
RACES = 10


def _row_key(pending: PendingDelivery) -> str:
    return f"{(pending.due_at - EPOCH) // timedelta(microseconds=1):016d}.{pending.event_id}"


def _secrets(tenant_id: str, entity: Any) -> WebhookSecrets:
    until = entity.get("previous_until")
    return WebhookSecrets(
        tenant_id=tenant_id,
        current=entity["current"],
        previous=entity.get("previous") or None,
        previous_until=datetime.fromisoformat(until) if until else None,
    )


class TableWebhookStore(TableAdapter):
    """See :class:`shared.ports.WebhookStore`."""

    async def _get_secrets(self, partition: str) -> Any:
        with translated("webhook secret"):
            return await self.table.get_entity(partition, SECRET_ROW)

    async def secrets(self, tenant_id: str, candidate: str) -> WebhookSecrets:
        await self._ensure_table()
        partition = f"secret.{tenant_key(tenant_id)}"
        try:
            return _secrets(tenant_id, await self._get_secrets(partition))
        except NotFound:
            pass
        try:
            with translated("webhook secret"):
                await self.table.create_entity(
                    {"PartitionKey": partition, "RowKey": SECRET_ROW, "current": candidate}
                )
            return WebhookSecrets(tenant_id, candidate)
        except Conflict:  # another instance stored the first one meanwhile
            return _secrets(tenant_id, await self._get_secrets(partition))

    async def rotate(self, tenant_id: str, new: str, previous_until: datetime) -> WebhookSecrets:
        await self._ensure_table()
        partition = f"secret.{tenant_key(tenant_id)}"
        for _ in range(RACES):
            try:
                entity = await self._get_secrets(partition)
            except NotFound:
                try:
                    return await self._first(tenant_id, partition, new)
                except Conflict:
                    continue
            entity.update(
                previous=entity["current"],
                previous_until=previous_until.isoformat(),
                current=new,
            )
            try:
                with translated("webhook secret"):
                    await self.table.update_entity(
                        entity,
                        mode=UpdateMode.REPLACE,
                        etag=entity.metadata["etag"],
                        match_condition=MatchConditions.IfNotModified,
                    )
                return _secrets(tenant_id, entity)
            except PreconditionFailed:
                continue
        raise PreconditionFailed(f"the webhook secret of {tenant_id} kept changing")

    async def _first(self, tenant_id: str, partition: str, new: str) -> WebhookSecrets:
        with translated("webhook secret"):
            await self.table.create_entity(
                {"PartitionKey": partition, "RowKey": SECRET_ROW, "current": new}
            )
        return WebhookSecrets(tenant_id, new)

    async def track(self, pending: PendingDelivery) -> None:
        await self._ensure_table()
        with translated("webhook outbox"):
            await self.table.upsert_entity(
                {
                    "PartitionKey": OUTBOX,
                    "RowKey": _row_key(pending),
                    "tenant_id": pending.tenant_id,
                    "job_id": pending.job_id,
                    "event_id": pending.event_id,
                }
            )

    async def due(self, before: datetime, limit: int) -> list[PendingDelivery]:
        await self._ensure_table()
        bound = f"{(before - EPOCH) // timedelta(microseconds=1):016d}"
        query = f"PartitionKey eq {odata_quote(OUTBOX)} and RowKey lt {odata_quote(bound)}"
        found: list[PendingDelivery] = []
        with translated("webhook outbox"):
            async for e in self.table.query_entities(query, results_per_page=limit):
                micros = int(e["RowKey"].split(".", 1)[0])
                found.append(
                    PendingDelivery(
                        tenant_id=e["tenant_id"],
                        job_id=e["job_id"],
                        event_id=e["event_id"],
                        due_at=EPOCH + timedelta(microseconds=micros),
                    )
                )
                if len(found) >= limit:
                    break
        return found

    async def forget(self, pending: PendingDelivery) -> None:
        await self._ensure_table()
        with translated("webhook outbox"):
            await self.table.delete_entity(OUTBOX, _row_key(pending))
