"""Job results in Azure Cosmos DB (NoSQL).

One item per job: ``id`` = ``job_id`` = partition key (``/job_id``). Results are
written and read one job at a time, so the job id spreads load evenly over
physical partitions and every read is a point read (1 RU for 1 KB). The first
write wins (``create_item``; a second one gets 409 and changes nothing). Each item
carries ``ttl`` so Cosmos DB deletes it after the retention period (the container
has TTL enabled with no default).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from azure.cosmos import PartitionKey

from shared.adapters.azure.errors import translated
from shared.errors import BackendUnavailable, Conflict, NotFound, TooLarge
from shared.ports import MAX_RESULT_BYTES, StoredResult, result_json

#: Results are only ever point-read by id and partition key, which need no index, so
#: nothing is indexed: each write then costs fewer request units (docs/cost.md).
INDEXING_POLICY: dict[str, Any] = {
    "indexingMode": "consistent",
    "automatic": True,
    "includedPaths": [],
    "excludedPaths": [{"path": "/*"}],
}


#: The id the health ping reads: not a job id (those are ULIDs), so never an item.
PING_ID = "dtq-health-ping"


class CosmosResultStore:
    """See :class:`shared.ports.ResultStore`."""

    def __init__(
        self,
        client: Any,
        database: str,
        container: str,
        *,
        ttl_seconds: int,
        create_if_missing: bool,
        max_bytes: int = MAX_RESULT_BYTES,
    ) -> None:
        self.client = client
        #: Largest result kept (compact JSON, UTF-8), checked before writing: the same
        #: figure as on SQLite, well under Cosmos DB's 2 MB item limit (which answers 413).
        self.max_bytes = max_bytes
        self.database_name = database
        self.container_name = container
        self.ttl_seconds = ttl_seconds
        self.create_if_missing = create_if_missing
        self._container: Any = None
        self._lock: asyncio.Lock | None = None

    async def _get_container(self) -> Any:
        if self._container is not None:
            return self._container
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._container is None:
                self._container = await self._open_container()
        return self._container

    async def _open_container(self) -> Any:
        if not self.create_if_missing:
            return self.client.get_database_client(self.database_name).get_container_client(
                self.container_name
            )
        for _ in range(3):
            try:
                with translated("results container"):
                    db = await self.client.create_database_if_not_exists(self.database_name)
                    return await db.create_container_if_not_exists(
                        self.container_name,
                        partition_key=PartitionKey(path="/job_id"),
                        default_ttl=-1,
                        indexing_policy=INDEXING_POLICY,
                    )
            except Conflict:
                continue  # another process created it between our read and create
        raise BackendUnavailable("results container: could not open or create it")

    async def put(self, job_id: str, tenant_id: str, result: Any) -> bool:
        size = len(result_json(result))  # ASCII only: one byte per character
        if size > self.max_bytes:
            raise TooLarge(
                f"the result of job {job_id} is {size:,} bytes of JSON; results are limited"
                f" to {self.max_bytes:,} bytes",
                self.max_bytes,
            )
        container = await self._get_container()
        item = {
            "id": job_id,
            "job_id": job_id,
            "tenant_id": tenant_id,
            "result": result,
            "created_at": datetime.now(UTC).isoformat(),
            "ttl": self.ttl_seconds,
        }
        try:
            with translated(f"result of job {job_id}"):
                await container.create_item(item)
        except Conflict:
            return False
        except NotFound as exc:
            if not self.create_if_missing:
                raise BackendUnavailable(
                    f"results container {self.container_name} is missing"
                ) from exc
            # The database or container is gone (an emulator restarted empty): create it
            # again and retry once.
            self._container = None
            container = await self._get_container()
            try:
                with translated(f"result of job {job_id}"):
                    await container.create_item(item)
            except Conflict:
                return False
        return True

    async def get(self, job_id: str) -> StoredResult | None:
        container = await self._get_container()
        try:
            with translated(f"result of job {job_id}"):
                item = await container.read_item(job_id, partition_key=job_id)
        except NotFound:
            return None
        return StoredResult(
            job_id=item["job_id"],
            tenant_id=item["tenant_id"],
            result=item["result"],
            created_at=datetime.fromisoformat(item["created_at"]),
        )

    async def purge_older(self, created_before: datetime, limit: int) -> int:
        """Cosmos DB deletes each result itself when its ``ttl`` runs out."""
        return 0

    async def ping(self) -> None:
        """A point read of an id no result has (PING_ID): 404 means the container answers.
        One data-plane request of about 1 RU on the cached container client, never a read
        of the container's metadata, whose requests Cosmos DB throttles on their own."""
        container = await self._get_container()
        try:
            with translated("results container"):
                await container.read_item(PING_ID, partition_key=PING_ID)
        except NotFound:
            return

    async def close(self) -> None:
        await self.client.close()
