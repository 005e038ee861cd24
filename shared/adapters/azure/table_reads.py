"""How the job status table's lists by state or type and its counts read the index rows
and counters (issue 21; shared/adapters/azure/table_index.py): O(page) entities for a
list, two short range reads per partition for the counts, whatever the table holds."""

from __future__ import annotations

import asyncio
import heapq
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from shared.adapters.azure.errors import translated
from shared.adapters.azure.table_index import (
    COUNTS_FROM,
    COUNTS_TO,
    MINUTES_TO,
    list_prefix,
    minute_key,
    minute_of,
    state_type_of,
)
from shared.adapters.azure.tables import odata_quote as _odata
from shared.errors import NotFound
from shared.jobs import JobState
from shared.ports import JobCounts


class IndexedReads:
    table: Any

    remember: Callable[[Any], None]

    async def indexed_rows(
        self,
        pks: list[str],
        state: JobState | None,
        job_type: str | None,
        limit: int,
        after: str | None,
    ) -> tuple[list[Any], str | None]:
        """A page of the jobs whose index rows ``list_prefix`` names, newest first: at most
        ``limit + 1`` index rows read per partition, then the page's job rows by point
        reads. A job that changed between the two reads is left out. Returns the job rows
        and the inverted id to continue after (None: the last page)."""
        prefix = list_prefix(state, job_type)
        low = f"RowKey gt {_odata(prefix + after)}" if after else f"RowKey gt {_odata(prefix)}"

        async def shard(pk: str) -> list[tuple[str, str]]:
            query = f"PartitionKey eq {_odata(pk)} and {low} and RowKey lt {_odata(prefix + '~')}"
            found: list[tuple[str, str]] = []
            with translated("job index"):
                async for row in self.table.query_entities(
                    query, select=["RowKey"], results_per_page=limit + 1
                ):
                    found.append((row["RowKey"][len(prefix) :], pk))
                    if len(found) > limit:
                        break
            return found

        merged = list(heapq.merge(*await asyncio.gather(*(shard(pk) for pk in pks))))
        page = merged[:limit]
        rows = await asyncio.gather(*(self._read_job(pk, rk) for rk, pk in page))
        jobs = [
            row
            for row in rows
            if row is not None
            and (state is None or row["state"] == state.value)
            and (job_type is None or row["job_type"] == job_type)
        ]
        return jobs, page[-1][0] if len(merged) > limit else None

    async def _read_job(self, pk: str, rk: str) -> Any:
        try:
            with translated(f"job row {rk}"):
                row = await self.table.get_entity(pk, rk)
        except NotFound:
            return None
        self.remember(row)
        return row

    async def read_counts(self, pks: list[str], since: datetime) -> JobCounts:
        """The partitions' counters, added up: two range reads per partition."""

        async def shard(pk: str) -> tuple[list[Any], list[Any]]:
            where = f"PartitionKey eq {_odata(pk)} and RowKey"
            with translated("job counters"):
                counts = [
                    e
                    async for e in self.table.query_entities(
                        f"{where} ge '{COUNTS_FROM}' and {where} lt '{COUNTS_TO}'"
                    )
                ]
                minutes = [
                    e
                    async for e in self.table.query_entities(
                        f"{where} ge '{minute_key(since)}' and {where} lt '{MINUTES_TO}'"
                    )
                ]
            return counts, minutes

        by: Counter[tuple[str, str]] = Counter()
        per_minute: Counter[datetime] = Counter()
        for counts, minutes in await asyncio.gather(*(shard(pk) for pk in pks)):
            for row in counts:
                by[state_type_of(row["RowKey"])] += int(row["n"])
            for row in minutes:
                per_minute[minute_of(row["RowKey"])] += int(row["n"])
        return JobCounts(
            {k: n for k, n in by.items() if n}, sorted((m, n) for m, n in per_minute.items() if n)
        )
