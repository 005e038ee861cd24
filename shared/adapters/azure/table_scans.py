"""The status table's reads of job rows themselves: the newest-first list (the job rows
are their own index), the retention scan, and for a table written before the index rows
existed the filtered lists and counts by scanning (bounded, then ``truncated``),
``rebuild_index`` and ``drop_index`` (issue 21; docs/storage.md)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from azure.data.tables import UpdateMode

from shared.adapters.azure.errors import translated
from shared.adapters.azure.table_index import INDEX_START, INDEXED, Counted, mark
from shared.adapters.azure.tables import odata_quote
from shared.jobs import JobState
from shared.ports import JobCounts

if TYPE_CHECKING:
    from shared.adapters.azure.table_status import TableStatusStore

TERMINAL = frozenset(s.value for s in JobState if s.terminal)
#: Most rows one counts() call of an unindexed table reads (Table storage cannot aggregate).
COUNT_SCAN_LIMIT = 50_000
#: Entities of one transaction (Table storage's limit).
MAX_BATCH = 100
_JOB_ROWS = f"RowKey lt {odata_quote(INDEX_START)}"


async def job_rows(
    store: TableStatusStore,
    pks: list[str],
    state: JobState | None,
    job_type: str | None,
    limit: int,
    after: str | None,
) -> tuple[list[Any], str | None]:
    """A page of job rows newest first: the partitions queried in parallel (RowKey after
    the cursor, filters evaluated by the service) and merged by RowKey."""
    conditions = [_JOB_ROWS]
    if after:
        conditions.append(f"RowKey gt {odata_quote(after)}")
    if state is not None:
        conditions.append(f"state eq {odata_quote(state.value)}")
    if job_type is not None:
        conditions.append(f"job_type eq {odata_quote(job_type)}")

    async def shard(pk: str) -> list[Any]:
        query = " and ".join([f"PartitionKey eq {odata_quote(pk)}", *conditions])
        found: list[Any] = []
        with translated("jobs"):
            async for entity in store.table.query_entities(query, results_per_page=limit + 1):
                found.append(entity)
                store.remember(entity)
                if len(found) > limit:
                    break
        return found

    per_shard = await asyncio.gather(*(shard(pk) for pk in pks))
    merged = sorted((e for found in per_shard for e in found), key=lambda e: e["RowKey"])
    return merged[:limit], merged[limit - 1]["RowKey"] if len(merged) > limit else None


async def finished_rows(
    store: TableStatusStore, before: datetime, made_before: str
) -> AsyncIterator[Any]:
    """Every terminal job row finished before ``before``: in each partition the RowKey
    range of jobs made before the row key ``made_before`` (row keys of older jobs sort
    after it), filtered by the service."""
    cutoff = before.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    rows = f"RowKey gt {odata_quote(made_before)} and {_JOB_ROWS}"
    with translated(f"table {store.table_name}"):
        async for entity in store.table.query_entities(
            f"{rows} and finished_at lt datetime'{cutoff}'",
            select=["PartitionKey", "RowKey", "state", "job_type", "finished_at", INDEXED],
            results_per_page=1000,
        ):
            if entity["state"] in TERMINAL:
                yield entity


async def counts(store: TableStatusStore, pks: list[str], completed_since: datetime) -> JobCounts:
    """Counted by reading three small properties of every job row of the tenant, up to
    COUNT_SCAN_LIMIT rows (then ``truncated``): a table without its counters."""
    since = completed_since.astimezone(UTC)
    per_shard_limit = COUNT_SCAN_LIMIT // len(pks)

    async def shard(pk: str) -> tuple[list[Any], bool]:
        rows: list[Any] = []
        with translated("jobs"):
            async for entity in store.table.query_entities(
                f"PartitionKey eq {odata_quote(pk)} and {_JOB_ROWS}",
                select=["state", "job_type", "finished_at"],
                results_per_page=1000,
            ):
                rows.append(entity)
                if len(rows) >= per_shard_limit:
                    return rows, True
        return rows, False

    shards = await asyncio.gather(*(shard(pk) for pk in pks))
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


async def _partitions(store: TableStatusStore) -> AsyncIterator[tuple[str, list[Any], list[Any]]]:
    """Each tenant partition's job rows (what they count for) and index/counter rows."""
    current: str | None = None
    jobs: list[Any] = []
    index: list[Any] = []
    with translated(f"table {store.table_name}"):
        async for entity in store.table.query_entities(
            "PartitionKey lt '~'",
            select=["PartitionKey", "RowKey", "state", "job_type", "finished_at", INDEXED, "n"],
            results_per_page=1000,
        ):
            pk = entity["PartitionKey"]
            if pk != current:
                if current is not None:
                    yield current, jobs, index
                current, jobs, index = pk, [], []
            (index if entity["RowKey"].startswith(INDEX_START) else jobs).append(entity)
    if current is not None:
        yield current, jobs, index


async def _submit(store: TableStatusStore, ops: list[tuple[Any, ...]]) -> None:
    for start in range(0, len(ops), MAX_BATCH):
        with translated(f"table {store.table_name}"):
            await store.table.submit_transaction(ops[start : start + MAX_BATCH])


async def index_unindexed(store: TableStatusStore) -> int:
    """Each job row written before the index gets its index rows and counter shares,
    one transaction per batch of a partition's rows, each row conditional on its ETag
    (safe beside writers: see IndexedWrites.index_rows_of). Returns the jobs seen."""
    total = 0
    async for pk, jobs, _ in _partitions(store):
        total += len(jobs)
        await store.index_rows_of(pk, [row for row in jobs if not row.get(INDEXED)])
    return total


async def recount(store: TableStatusStore) -> int:
    """Each partition's index rows and counters made from its job rows: stale ones
    deleted, missing ones written, every job row marked indexed. Returns the jobs.
    A repair after a fault: a job changed meanwhile may be counted as it was, so it
    runs with no writer on the table."""
    total = 0
    async for pk, jobs, index in _partitions(store):
        total += len(jobs)
        wanted_rows: set[str] = set()
        wanted_counts: Counter[str] = Counter()
        ops: list[tuple[Any, ...]] = []
        for row in jobs:
            counted = replace(Counted.of_entity(row), indexed=True)
            wanted_rows |= counted.index_rows()
            wanted_counts.update(counted.counters())
            if not row.get(INDEXED):
                ops.append(mark(row, 1))
        have = {row["RowKey"]: row for row in index}
        ops += [
            ("delete", {"PartitionKey": pk, "RowKey": key})
            for key in have
            if key not in wanted_rows and key not in wanted_counts
        ]
        ops += [("upsert", {"PartitionKey": pk, "RowKey": k}) for k in wanted_rows - set(have)]
        ops += [
            ("upsert", {"PartitionKey": pk, "RowKey": k, "n": n}, {"mode": UpdateMode.REPLACE})
            for k, n in wanted_counts.items()
            if have.get(k, {}).get("n") != n
        ]
        await _submit(store, ops)
    store.forget_counters()
    return total


async def drop(store: TableStatusStore) -> None:
    """Every index row and counter deleted and every job row marked unindexed."""
    async for pk, jobs, index in _partitions(store):
        ops = [mark(row, 0) for row in jobs if row.get(INDEXED)]
        ops += [("delete", {"PartitionKey": pk, "RowKey": row["RowKey"]}) for row in index]
        await _submit(store, ops)
    store.forget_counters()
