"""Job status in Azure Table storage.

Keys (see docs/storage.md):

- ``PartitionKey = "<tenant>~<shard>"`` with ``shard = crc32(job_id) % shards``: a tenant's
  rows spread over ``shards`` partitions, so one busy tenant is not one hot partition
  (Table storage serves about 2,000 entities/s per partition), and a point read
  needs only the tenant and the job id.
- ``RowKey`` = the job id with every character inverted in the ULID alphabet, so rows
  sort newest first inside a partition; a tenant's list merges its shards.

The job is stored as JSON split over ``data0..dataN`` string properties (Table caps a
property at 64 KiB and an entity at 1 MiB, both counting strings as UTF-16: an emoji is
4 bytes), cut by UTF-16 length and never inside a surrogate pair; ``state``,
``job_type`` and ``job_id`` are properties of their own for server-side filters.
Every write is conditional on the entity's ETag.
"""

from __future__ import annotations

import asyncio
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError
from azure.data.tables import TableErrorCode, UpdateMode

from shared.adapters.azure.errors import translated
from shared.adapters.azure.tables import TableAdapter, odata_quote, tenant_key
from shared.errors import NotFound, PreconditionFailed, TooLarge
from shared.jobs import Job, JobState
from shared.paging import decode_cursor, encode_cursor
from shared.ports import (
    JobCounts,
    Page,
    job_json,
    marker_name,
    marker_value,
)

T = TypeVar("T")

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case (ULID)
_INVERT = str.maketrans(ALPHABET, ALPHABET[::-1])
#: UTF-16 bytes per data property at most: under the 64 KiB (65,536 bytes) cap.
CHUNK_BYTES = 64_000
#: 15 x 64,000 bytes stays under the 1 MiB entity cap with the other properties; a job
#: within MAX_JOB_UTF16_BYTES always fits (a chunk loses at most 2 bytes to a pair).
MAX_CHUNKS = 15
TERMINAL = frozenset(s.value for s in JobState if s.terminal)
#: Most rows one counts() call reads (Table storage cannot aggregate).
COUNT_SCAN_LIMIT = 50_000
#: The partition of the markers (get_marker / put_marker): no tenant's partition, as a
#: tenant id cannot contain ``~``; the rows have no ``finished_at``, so retention skips them.
MARKERS_PARTITION = "~markers"


def row_key(job_id: str) -> str:
    return job_id.translate(_INVERT)


def utf16_chunks(text: str, chunk_bytes: int = CHUNK_BYTES) -> list[str]:
    """``text`` cut into pieces of at most ``chunk_bytes`` bytes as UTF-16, never between
    the two halves of a surrogate pair (a character outside the BMP, e.g. an emoji)."""
    if text.isascii() or max(text) < "\U00010000":  # one UTF-16 unit per character
        step = chunk_bytes // 2
        return [text[i : i + step] for i in range(0, len(text), step)]
    data = text.encode("utf-16-le", "surrogatepass")
    chunks: list[str] = []
    start = 0
    while start < len(data):
        end = min(start + chunk_bytes - chunk_bytes % 2, len(data))
        if end < len(data) and 0xD800 <= int.from_bytes(data[end - 2 : end], "little") < 0xDC00:
            end -= 2  # the last unit is a pair's high half: keep the pair together
        chunks.append(data[start:end].decode("utf-16-le", "surrogatepass"))
        start = end
    return chunks


class TableStatusStore(TableAdapter):
    """See :class:`shared.ports.StatusStore`."""

    def __init__(self, service: Any, table_name: str, shards: int = 8) -> None:
        super().__init__(service, table_name)
        self.shards = shards

    # -- keys and entities --------------------------------------------------------

    def partition_key(self, tenant_id: str, job_id: str) -> str:
        return f"{tenant_key(tenant_id)}~{zlib.crc32(job_id.encode()) % self.shards:02d}"

    def _entity(self, job: Job) -> dict[str, Any]:
        data = job_json(job)
        chunks = utf16_chunks(data) or [""]
        if len(chunks) > MAX_CHUNKS:  # cannot happen within MAX_JOB_UTF16_BYTES
            raise TooLarge(f"job {job.job_id} needs {len(chunks)} status properties")
        entity: dict[str, Any] = {
            "PartitionKey": self.partition_key(job.tenant_id, job.job_id),
            "RowKey": row_key(job.job_id),
            "job_id": job.job_id,
            "tenant_id": job.tenant_id,
            "job_type": job.job_type,
            "state": job.state.value,
            "chunks": len(chunks),
        }
        if job.finished_at is not None:
            entity["finished_at"] = job.finished_at
        for i, chunk in enumerate(chunks):
            entity[f"data{i}"] = chunk
        return entity

    @staticmethod
    def _job(entity: Any) -> Job:
        data = "".join(entity[f"data{i}"] for i in range(int(entity["chunks"])))
        return Job.model_validate_json(data).model_copy(update={"etag": entity.metadata["etag"]})

    # -- the port -----------------------------------------------------------------

    async def _call(self, what: str, operation: Callable[[], Awaitable[T]]) -> T:
        """Run one table operation; if the table itself is gone (deleted, or an emulator
        restarted empty), create it again and retry once."""
        await self._ensure_table()
        try:
            with translated(what):
                return await operation()
        except NotFound as exc:
            if getattr(exc.__cause__, "error_code", None) != TableErrorCode.TABLE_NOT_FOUND:
                raise
            self._ready = False
            await self._ensure_table()
            with translated(what):
                return await operation()

    async def create(self, job: Job) -> Job:
        entity = self._entity(job)
        meta = await self._call(f"job {job.job_id}", lambda: self.table.create_entity(entity))
        return job.model_copy(update={"etag": meta["etag"]})

    async def get(self, tenant_id: str, job_id: str) -> Job:
        pk = self.partition_key(tenant_id, job_id)
        entity = await self._call(
            f"job {job_id}", lambda: self.table.get_entity(pk, row_key(job_id))
        )
        return self._job(entity)

    async def replace(self, job: Job) -> Job:
        if job.etag is None:
            raise PreconditionFailed("replace needs the etag of the version it read")
        entity = self._entity(job)
        meta = await self._call(
            f"job {job.job_id}",
            lambda: self.table.update_entity(
                entity,
                mode=UpdateMode.REPLACE,
                etag=job.etag,
                match_condition=MatchConditions.IfNotModified,
            ),
        )
        return job.model_copy(update={"etag": meta["etag"]})

    async def delete(self, tenant_id: str, job_id: str) -> None:
        pk = self.partition_key(tenant_id, job_id)
        await self._call(f"job {job_id}", lambda: self.table.delete_entity(pk, row_key(job_id)))

    async def list(
        self,
        tenant_id: str,
        *,
        state: JobState | None = None,
        job_type: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Job]:
        await self._ensure_table()
        self.partition_key(tenant_id, "")  # validates the tenant id
        conditions = []
        if cursor:
            conditions.append(f"RowKey gt {odata_quote(row_key(decode_cursor(cursor)))}")
        if state is not None:
            conditions.append(f"state eq {odata_quote(state.value)}")
        if job_type is not None:
            conditions.append(f"job_type eq {odata_quote(job_type)}")

        async def shard(index: int) -> list[Any]:
            pk = f"{tenant_id}~{index:02d}"
            query = " and ".join([f"PartitionKey eq {odata_quote(pk)}", *conditions])
            found: list[Any] = []
            with translated(f"jobs of tenant {tenant_id}"):
                async for entity in self.table.query_entities(query, results_per_page=limit + 1):
                    found.append(entity)
                    if len(found) > limit:
                        break
            return found

        per_shard = await asyncio.gather(*(shard(i) for i in range(self.shards)))
        merged = sorted((e for found in per_shard for e in found), key=lambda e: e["RowKey"])
        jobs = [self._job(e) for e in merged[:limit]]
        next_cursor = encode_cursor(jobs[-1].job_id) if len(merged) > limit and jobs else None
        return Page(items=jobs, next_cursor=next_cursor)

    async def purge_finished(self, finished_before: datetime, limit: int) -> int:
        """Scans the whole table for terminal rows finished before the cutoff (a timer
        runs this, not a request) and deletes each one conditionally on its ETag."""
        await self._ensure_table()
        cutoff = finished_before.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        query = f"finished_at lt datetime'{cutoff}'"
        deleted = 0
        with translated(f"table {self.table_name}"):
            async for entity in self.table.query_entities(
                query, select=["PartitionKey", "RowKey", "state"], results_per_page=1000
            ):
                if entity["state"] not in TERMINAL:
                    continue
                try:
                    await self.table.delete_entity(
                        entity["PartitionKey"],
                        entity["RowKey"],
                        etag=entity.metadata["etag"],
                        match_condition=MatchConditions.IfNotModified,
                    )
                except ResourceModifiedError:
                    continue  # changed meanwhile: the next run looks again
                deleted += 1
                if deleted >= limit:
                    break
        return deleted

    async def counts(self, tenant_id: str, completed_since: datetime) -> JobCounts:
        """Table storage cannot aggregate: this scans the tenant's partitions, reading
        three small properties of each row, and stops at COUNT_SCAN_LIMIT rows (then
        ``truncated``). Retention bounds the rows a tenant keeps."""
        await self._ensure_table()
        self.partition_key(tenant_id, "")  # validates the tenant id
        since = completed_since.astimezone(UTC)
        per_shard_limit = COUNT_SCAN_LIMIT // self.shards

        async def shard(index: int) -> tuple[list[Any], bool]:
            pk = odata_quote(f"{tenant_id}~{index:02d}")
            rows: list[Any] = []
            with translated(f"jobs of tenant {tenant_id}"):
                async for entity in self.table.query_entities(
                    f"PartitionKey eq {pk}",
                    select=["state", "job_type", "finished_at"],
                    results_per_page=1000,
                ):
                    rows.append(entity)
                    if len(rows) >= per_shard_limit:
                        return rows, True
            return rows, False

        shards = await asyncio.gather(*(shard(i) for i in range(self.shards)))
        by: Counter[tuple[str, str]] = Counter()
        minutes: Counter[datetime] = Counter()
        for rows, _ in shards:
            for row in rows:
                by[(row["state"], row["job_type"])] += 1
                finished = row.get("finished_at")
                if row["state"] == JobState.COMPLETED.value and finished is not None:
                    finished = finished.astimezone(UTC)
                    if finished >= since:
                        minutes[finished.replace(second=0, microsecond=0)] += 1
        return JobCounts(dict(by), sorted(minutes.items()), truncated=any(cut for _, cut in shards))

    async def get_marker(self, name: str) -> str | None:
        marker_name(name)
        try:
            entity = await self._call(
                f"marker {name}", lambda: self.table.get_entity(MARKERS_PARTITION, name)
            )
        except NotFound:
            return None
        return str(entity["value"])

    async def put_marker(self, name: str, value: str) -> None:
        entity = {
            "PartitionKey": MARKERS_PARTITION,
            "RowKey": marker_name(name),
            "value": marker_value(value),
        }
        await self._call(f"marker {name}", lambda: self.table.upsert_entity(entity))

    async def ping(self) -> None:
        await self._ensure_table()
        with translated(f"table {self.table_name}"):
            async for _ in self.table.query_entities("PartitionKey eq 'ping'", results_per_page=1):
                break
