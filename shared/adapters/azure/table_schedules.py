"""Schedules and their tick claims in Azure Table storage (one table,
``DTQ_SCHEDULES_TABLE``):

- a schedule: ``PartitionKey`` = ``s.<tenant>``, ``RowKey`` = its id; the record as JSON
  in ``body``, replaced under its ETag;
- the due index: ``PartitionKey`` = ``due``, ``RowKey`` = the next fire time in
  microseconds (16 digits) + ``.<tenant>.<id>``, so the timer reads the due schedules as
  one RowKey range. A write puts the new index row *before* the record and removes the
  old one after it, so a schedule is never missing from the index; a row the record no
  longer names (a write that lost its race) is removed when the timer meets it;
- a tick claim: ``PartitionKey`` = ``t.<tenant>.<id>``, ``RowKey`` = the tick time
  counted down from 10**16 microseconds, so a schedule's ticks read newest first.
  Claimed by an insert: the second insert of a tick fails (409), whoever races.
  Retention reads, in each claims partition (``t.`` to ``t/``), the RowKey range of
  ticks before its cutoff (they sort last) and deletes them a transaction at a time.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.data.tables import UpdateMode

from shared.adapters.azure.errors import translated
from shared.adapters.azure.tables import TableAdapter, odata_quote, tenant_key
from shared.errors import Conflict, NotFound, PreconditionFailed
from shared.ports import Page
from shared.schedules.model import Schedule, TickClaim, TickOutcome

DUE = "due"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TOP = 10**16 - 1
_ID = re.compile(r"[A-Za-z0-9_.@-]{1,200}")


def _us(at: datetime) -> int:
    return (at - EPOCH) // timedelta(microseconds=1)


def _at(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def _known(schedule_id: str) -> bool:
    """Whether ``schedule_id`` could be a schedule's (a Table key refuses ``/``, ``#``,
    ``?``, ``\\`` and control characters with a 400, or worse: none of them is an id)."""
    return _ID.fullmatch(schedule_id) is not None


def _partition(tenant_id: str) -> str:
    return f"s.{tenant_key(tenant_id)}"


def _due_key(schedule: Schedule) -> str | None:
    if schedule.next_fire_at is None:
        return None
    return f"{_us(schedule.next_fire_at):016d}.{schedule.tenant_id}.{schedule.schedule_id}"


def _schedule(entity: Any) -> Schedule:
    return Schedule.model_validate_json(entity["body"]).model_copy(
        update={"etag": entity.metadata["etag"]}
    )


def _tick(entity: Any, created: bool = False) -> TickClaim:
    return TickClaim(
        tenant_id=entity["tenant_id"],
        schedule_id=entity["schedule_id"],
        tick_at=_at(TOP - int(entity["RowKey"])),
        claimed_at=datetime.fromisoformat(entity["claimed_at"]),
        holder=entity["holder"],
        outcome=TickOutcome(entity["outcome"]),
        job_id=entity.get("job_id") or None,
        created=created,
    )


def _tick_entity(claim: TickClaim) -> dict[str, Any]:
    return {
        "PartitionKey": f"t.{tenant_key(claim.tenant_id)}.{claim.schedule_id}",
        "RowKey": f"{TOP - _us(claim.tick_at):016d}",
        "tenant_id": claim.tenant_id,
        "schedule_id": claim.schedule_id,
        "claimed_at": claim.claimed_at.isoformat(),
        "holder": claim.holder,
        "outcome": claim.outcome.value,
        "job_id": claim.job_id or "",
    }


class TableScheduleStore(TableAdapter):
    """See :class:`shared.schedules.port.ScheduleStore`."""

    async def _index(self, schedule: Schedule) -> None:
        key = _due_key(schedule)
        if key is not None:
            with translated("schedule index"):
                await self.table.upsert_entity(
                    {
                        "PartitionKey": DUE,
                        "RowKey": key,
                        "tenant_id": schedule.tenant_id,
                        "schedule_id": schedule.schedule_id,
                    }
                )

    async def _unindex(self, key: str | None) -> None:
        if key is not None:
            with translated("schedule index"):
                await self.table.delete_entity(DUE, key)

    async def create(self, schedule: Schedule) -> Schedule:
        await self._ensure_table()
        await self._index(schedule)
        entity = {
            "PartitionKey": _partition(schedule.tenant_id),
            "RowKey": schedule.schedule_id,
            "body": schedule.body(),
        }
        with translated(f"schedule {schedule.schedule_id}"):
            meta = await self.table.create_entity(entity)
        return schedule.model_copy(update={"etag": meta["etag"]})

    async def _entity(self, tenant_id: str, schedule_id: str) -> Any:
        if not _known(schedule_id):
            raise NotFound(f"schedule {schedule_id} not found")
        await self._ensure_table()
        with translated(f"schedule {schedule_id}"):
            return await self.table.get_entity(_partition(tenant_id), schedule_id)

    async def get(self, tenant_id: str, schedule_id: str) -> Schedule:
        return _schedule(await self._entity(tenant_id, schedule_id))

    async def list_schedules(
        self, tenant_id: str, limit: int, cursor: str | None = None
    ) -> Page[Schedule]:
        await self._ensure_table()
        query = f"PartitionKey eq {odata_quote(_partition(tenant_id))}"
        if cursor:
            query += f" and RowKey gt {odata_quote(cursor)}"
        items: list[Schedule] = []
        more = False
        with translated("schedules"):
            async for entity in self.table.query_entities(query, results_per_page=limit + 1):
                if len(items) == limit:
                    more = True
                    break
                items.append(_schedule(entity))
        return Page(items, items[-1].schedule_id if more else None)

    async def replace(self, schedule: Schedule) -> Schedule:
        if schedule.etag is None:
            raise PreconditionFailed("replace needs the etag of the version it read")
        current = await self.get(schedule.tenant_id, schedule.schedule_id)
        if current.etag != schedule.etag:
            raise PreconditionFailed(f"schedule {schedule.schedule_id} changed since it was read")
        await self._index(schedule)
        entity = {
            "PartitionKey": _partition(schedule.tenant_id),
            "RowKey": schedule.schedule_id,
            "body": schedule.body(),
        }
        with translated(f"schedule {schedule.schedule_id}"):
            meta = await self.table.update_entity(
                entity,
                mode=UpdateMode.REPLACE,
                etag=schedule.etag,
                match_condition=MatchConditions.IfNotModified,
            )
        if _due_key(current) != _due_key(schedule):
            await self._unindex(_due_key(current))
        return schedule.model_copy(update={"etag": meta["etag"]})

    async def delete(self, tenant_id: str, schedule_id: str) -> None:
        try:
            current = await self.get(tenant_id, schedule_id)
        except NotFound:
            return
        with translated(f"schedule {schedule_id}"):
            await self.table.delete_entity(_partition(tenant_id), schedule_id)
        await self._unindex(_due_key(current))

    async def due(self, before: datetime, limit: int) -> list[Schedule]:
        await self._ensure_table()
        bound = f"{_us(before):016d}/"  # "/" sorts after ".", so the rows of ``before`` too
        query = f"PartitionKey eq {odata_quote(DUE)} and RowKey lt {odata_quote(bound)}"
        rows: list[Any] = []
        with translated("schedule index"):
            async for row in self.table.query_entities(query, results_per_page=limit):
                rows.append(row)
                if len(rows) >= limit:
                    break
        found: list[Schedule] = []
        for row in rows:
            try:
                schedule = await self.get(row["tenant_id"], row["schedule_id"])
            except NotFound:
                schedule = None
            if schedule is not None and _due_key(schedule) == row["RowKey"]:
                found.append(schedule)
            else:  # the schedule is gone, or its record names another time: stale
                await self._unindex(row["RowKey"])
        return found

    async def claim_tick(self, claim: TickClaim) -> TickClaim:
        await self._ensure_table()
        entity = _tick_entity(claim)
        try:
            with translated("schedule tick"):
                await self.table.create_entity(entity)
            return TickClaim(**{**claim.__dict__, "created": True})
        except Conflict:
            with translated("schedule tick"):
                stored = await self.table.get_entity(entity["PartitionKey"], entity["RowKey"])
            return _tick(stored)

    async def record_tick(self, claim: TickClaim) -> None:
        await self._ensure_table()
        with translated("schedule tick"):
            await self.table.upsert_entity(_tick_entity(claim), mode=UpdateMode.REPLACE)

    async def purge_ticks(self, before: datetime, limit: int) -> int:
        await self._ensure_table()
        query = (
            "PartitionKey gt 't.' and PartitionKey lt 't/'"
            f" and RowKey gt '{TOP - _us(before):016d}'"
        )
        by_partition: dict[str, list[str]] = {}
        found = 0
        with translated("schedule ticks"):
            async for entity in self.table.query_entities(
                query, select=["PartitionKey", "RowKey"], results_per_page=min(limit, 1000)
            ):
                by_partition.setdefault(entity["PartitionKey"], []).append(entity["RowKey"])
                found += 1
                if found >= limit:
                    break
        for pk, keys in by_partition.items():
            for start in range(0, len(keys), 100):
                await self._delete_all(pk, keys[start : start + 100])
        return found

    async def _delete_all(self, pk: str, keys: list[str]) -> None:
        """One transaction; if another instance deleted one of them first, each alone."""
        try:
            with translated("schedule ticks"):
                await self.table.submit_transaction(
                    [("delete", {"PartitionKey": pk, "RowKey": k}) for k in keys]
                )
        except NotFound:
            for key in keys:
                with translated("schedule tick"):
                    await self.table.delete_entity(pk, key)

    async def ticks(self, tenant_id: str, schedule_id: str, limit: int) -> list[TickClaim]:
        if not _known(schedule_id):
            return []
        await self._ensure_table()
        partition = f"t.{tenant_key(tenant_id)}.{schedule_id}"
        query = f"PartitionKey eq {odata_quote(partition)}"
        found: list[TickClaim] = []
        with translated("schedule ticks"):
            async for entity in self.table.query_entities(query, results_per_page=limit):
                found.append(_tick(entity))
                if len(found) >= limit:
                    break
        return found
