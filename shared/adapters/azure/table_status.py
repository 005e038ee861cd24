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
``job_type`` and ``job_id`` are properties of their own.
Every write is conditional on the entity's ETag.

Each job row has index rows and counter shares beside it, changed in the same
entity-group transaction (shared/adapters/azure/table_index.py): a list by state or
type reads a RowKey range of them, and the counts read the counters, so every read
costs what it returns whatever the table holds. A table written before them is read by
scans (shared/adapters/azure/table_scans.py) until ``rebuild_index`` has run.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from azure.core import MatchConditions
from azure.data.tables import TableErrorCode, UpdateMode

from shared.adapters.azure import table_scans
from shared.adapters.azure.errors import translated
from shared.adapters.azure.table_chunks import MAX_CHUNKS, utf16_chunks
from shared.adapters.azure.table_index import INDEXED, Counted
from shared.adapters.azure.table_reads import IndexedReads
from shared.adapters.azure.table_writes import IndexedWrites
from shared.adapters.azure.tables import TableAdapter, tenant_key
from shared.errors import NotFound, PreconditionFailed, TooLarge
from shared.job_ids import purge_bound
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
#: The partition of the markers (get_marker / put_marker): no tenant's partition, as a
#: tenant id cannot contain ``~``; the rows have no ``finished_at``, so retention skips them.
MARKERS_PARTITION = "~markers"
#: The marker row that says every job row of the table has its index rows and counters.
INDEX_MARKER = "~status-index"
#: How often a store that found the table without its index looks again.
INDEX_RECHECK_SECONDS = 60.0


def row_key(job_id: str) -> str:
    return job_id.translate(_INVERT)


class TableStatusStore(IndexedWrites, IndexedReads, TableAdapter):
    """See :class:`shared.ports.StatusStore`."""

    def __init__(self, service: Any, table_name: str, shards: int = 8) -> None:
        TableAdapter.__init__(self, service, table_name)
        IndexedWrites.__init__(self)
        self.shards = shards
        self._indexed = False
        self._index_checked = 0.0

    # -- keys and entities --------------------------------------------------------

    def partition_key(self, tenant_id: str, job_id: str) -> str:
        return f"{tenant_key(tenant_id)}~{zlib.crc32(job_id.encode()) % self.shards:02d}"

    def partitions(self, tenant_id: str) -> list[str]:
        tenant_key(tenant_id)  # validates the tenant id
        return [f"{tenant_id}~{index:02d}" for index in range(self.shards)]

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
            INDEXED: 1,
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

    async def _ensure_table(self) -> None:
        """The table, and (on first use) whether it has its index: a new table is marked
        indexed before its first job is written."""
        await super()._ensure_table()
        if not self._index_checked:
            await self.uses_index()

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
            self.forget_counters()
            await self._ensure_table()
            with translated(what):
                return await operation()

    async def create(self, job: Job) -> Job:
        entity = self._entity(job)
        after = Counted.of_job(entity["RowKey"], job)
        etag = await self._call(
            f"job {job.job_id}", lambda: self.transact(("create", entity), None, after)
        )
        return job.model_copy(update={"etag": etag})

    async def create_many(self, jobs: list[Job]) -> None:
        """Store new jobs a partition's transaction at a time (up to 100 entities each,
        with their index rows and counters): a bulk load (bench/scale.py)."""
        await self._ensure_table()
        await self.create_batched([(self._entity(job), job) for job in jobs])

    async def get(self, tenant_id: str, job_id: str) -> Job:
        pk = self.partition_key(tenant_id, job_id)
        entity = await self._call(
            f"job {job_id}", lambda: self.table.get_entity(pk, row_key(job_id))
        )
        self.remember(entity)
        return self._job(entity)

    async def replace(self, job: Job) -> Job:
        etag = job.etag
        if etag is None:
            raise PreconditionFailed("replace needs the etag of the version it read")
        entity = self._entity(job)
        before = await self._call(f"job {job.job_id}", lambda: self.stored_version(entity, etag))
        op = (
            "update",
            entity,
            {
                "mode": UpdateMode.REPLACE,
                "etag": etag,
                "match_condition": MatchConditions.IfNotModified,
            },
        )
        after = Counted.of_job(entity["RowKey"], job)
        new = await self._call(f"job {job.job_id}", lambda: self.transact(op, before, after))
        return job.model_copy(update={"etag": new})

    async def delete(self, tenant_id: str, job_id: str) -> None:
        pk = self.partition_key(tenant_id, job_id)
        await self._call(f"job {job_id}", lambda: self.remove(pk, row_key(job_id)))

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
        pks = self.partitions(tenant_id)
        after = row_key(decode_cursor(cursor)) if cursor else None
        if (state is None and job_type is None) or not await self.uses_index():
            rows, more = await table_scans.job_rows(self, pks, state, job_type, limit, after)
        else:
            rows, more = await self.indexed_rows(pks, state, job_type, limit, after)
        jobs = [self._job(e) for e in rows]
        next_cursor = encode_cursor(row_key(more)) if more else None  # mirroring undoes it
        return Page(items=jobs, next_cursor=next_cursor)

    async def purge_finished(self, finished_before: datetime, limit: int) -> int:
        """Queries the rows of jobs made before the cutoff in every partition (their row
        keys sort last; no PartitionKey, so the service scans, but returns only those;
        it filters the terminal ones finished before the cutoff) and deletes
        each with its index rows and counter shares, conditionally on its ETag."""
        await self._ensure_table()
        deleted = 0
        made_before = row_key(purge_bound(finished_before))
        async for entity in table_scans.finished_rows(self, finished_before, made_before):
            if await self.remove(entity["PartitionKey"], entity["RowKey"], known=entity):
                deleted += 1
                if deleted >= limit:
                    break
        return deleted

    async def counts(self, tenant_id: str, completed_since: datetime) -> JobCounts:
        """The partitions' counters (exact): two short range reads per partition. A table
        written before the counters is counted by a scan instead (maybe ``truncated``)."""
        await self._ensure_table()
        pks = self.partitions(tenant_id)
        if not await self.uses_index():
            return await table_scans.counts(self, pks, completed_since)
        return await self.read_counts(pks, completed_since)

    # -- the index: whether the table has it, and making it for one written before ------

    async def uses_index(self) -> bool:
        """Whether every job row has its index rows: the marker says so, or the table
        holds no tenant's row yet (then the marker is written)."""
        now = time.monotonic()
        if self._indexed or (
            self._index_checked and now - self._index_checked < INDEX_RECHECK_SECONDS
        ):
            return self._indexed
        self._index_checked = now
        with translated(f"table {self.table_name}"):
            if await self._marker(INDEX_MARKER) is None:
                async for _ in self.table.query_entities(
                    "PartitionKey lt '~'", select=["RowKey"], results_per_page=1
                ):
                    return False
                await self._put_marker(INDEX_MARKER, "1")
        self._indexed = True
        return True

    async def rebuild_index(self, recount: bool = False) -> int:
        """Index the job rows written before the index (safe while the app runs), or with
        ``recount`` make every index row and counter again from the job rows (a repair:
        with no writer on the table); then mark the table indexed. Returns the jobs."""
        await self._ensure_table()
        scan = table_scans.recount if recount else table_scans.index_unindexed
        jobs = await scan(self)
        await self._put_marker(INDEX_MARKER, "1")
        self._indexed, self._index_checked = True, time.monotonic()
        return jobs

    async def drop_index(self) -> None:
        """Delete every index row and counter and mark the job rows unindexed (as a
        table written before them); lists and counts scan until ``rebuild_index``."""
        await self._ensure_table()
        await table_scans.drop(self)
        with translated(f"table {self.table_name}"):
            await self.table.delete_entity(MARKERS_PARTITION, INDEX_MARKER)
        self._indexed, self._index_checked = False, time.monotonic()

    # -- markers ------------------------------------------------------------------

    async def _marker(self, key: str) -> Any:
        try:
            return await self._call(
                f"marker {key}", lambda: self.table.get_entity(MARKERS_PARTITION, key)
            )
        except NotFound:
            return None

    async def _put_marker(self, key: str, value: str) -> None:
        entity = {"PartitionKey": MARKERS_PARTITION, "RowKey": key, "value": value}
        await self._call(f"marker {key}", lambda: self.table.upsert_entity(entity))

    async def get_marker(self, name: str) -> str | None:
        entity = await self._marker(marker_name(name))
        return None if entity is None else str(entity["value"])

    async def put_marker(self, name: str, value: str) -> None:
        await self._put_marker(marker_name(name), marker_value(value))

    async def ping(self) -> None:
        await self._ensure_table()
        with translated(f"table {self.table_name}"):
            async for _ in self.table.query_entities("PartitionKey eq 'ping'", results_per_page=1):
                break
