"""What a read costs as the job store grows (issue 21): load 1,000, 10,000 and 100,000
jobs into the status store (batched inserts through the adapter), then time the API's
reads (the first page of each list, the dead-letter queue, the stats) and, on Table
storage, count the requests and the entities each one reads.

    .venv/bin/python bench/scale.py                         # SQLite and Azurite
    .venv/bin/python bench/scale.py --backends sqlite --sizes 1000 10000 100000 1000000

Azurite (npm, installed by ./dev test) is started on a free port in memory and stopped
by its pid, as the tests start it. Jobs go to one tenant: 70 % completed within the last
two hours, 10 % failed, 10 % queued, 5 % running, 5 % cancelled, over three job types.
Each read is timed three times; the table shows the median. Figures: docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from shared.jobs import Job, JobState
from shared.stats import Stats

TENANT = "bench"
TYPES = ("echo", "simulate", "weather")
MIX = [(JobState.COMPLETED, 70), (JobState.FAILED, 10), (JobState.QUEUED, 10)]
MIX += [(JobState.RUNNING, 5), (JobState.CANCELLED, 5)]
LOAD_CHUNK = 2_000
#: Jobs per Table transaction: 4 entities each (the row and 3 index rows) and up to 31
#: counters (15 state/type, 16 minutes) stay within the 100 operations of one.
TABLE_BATCH = 16
#: Times each read is timed (the table shows the median).
REPEATS = 3
LOADERS = 4  # Azurite (one node process) drops connections under more


def jobs(n: int, now: datetime) -> list[Job]:
    states = [s for s, share in MIX for _ in range(share)]
    out = []
    for i in range(n):
        state = states[i % len(states)]
        job = Job.new(tenant_id=TENANT, job_type=TYPES[i % 3], payload={"i": i}, max_attempts=3)
        if state.terminal:
            job = job.model_copy(
                update={"state": state, "finished_at": now - timedelta(seconds=(i * 7) % 7200)}
            )
        elif state is not JobState.QUEUED:
            job = job.model_copy(update={"state": state})
        out.append(job)
    return out


class Counting:
    """The Table client of a store, counting requests and the entities they return."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self.requests = 0
        self.entities = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.table, name)

    async def get_entity(self, *args: Any, **kwargs: Any) -> Any:
        self.requests += 1
        entity = await self.table.get_entity(*args, **kwargs)
        self.entities += 1
        return entity

    def query_entities(self, *args: Any, **kwargs: Any) -> Any:
        pager = self.table.query_entities(*args, **kwargs)
        outer = self

        class Pages:
            def __aiter__(self) -> Any:
                return self.run()

            async def run(self) -> Any:
                outer.requests += 1  # the first page; each later page is another request
                seen = 0
                per_page = kwargs.get("results_per_page") or 1000
                async for entity in pager:
                    seen += 1
                    outer.entities += 1
                    if seen > 1 and (seen - 1) % per_page == 0:
                        outer.requests += 1  # this entity needed the next page
                    yield entity

        return Pages()


def reads(store: Any) -> dict[str, Callable[[], Awaitable[Any]]]:
    stats = Stats(status=store, queue=_NoQueue())  # type: ignore[arg-type]
    return {
        "list, newest first": lambda: store.list(TENANT, limit=50),
        "list, state=running": lambda: store.list(TENANT, state=JobState.RUNNING, limit=50),
        "list, type=weather": lambda: store.list(TENANT, job_type="weather", limit=50),
        "list, state+type": lambda: store.list(
            TENANT, state=JobState.CANCELLED, job_type="simulate", limit=50
        ),
        "DLQ (state=failed)": lambda: store.list(TENANT, state=JobState.FAILED, limit=50),
        "stats": lambda: stats.collect(TENANT),
        # The hourly timer when nothing is due: every job here finished in the last two
        # hours. It reads the range of ids made before the cutoff (empty here); what
        # Table storage scans on the service side is not visible to a client.
        "retention, none due": lambda: store.purge_finished(
            datetime.now(UTC) - timedelta(days=7), 1000
        ),
    }


class _NoQueue:
    """Stats reads no queue for a tenant (only the operator's stats do)."""

    queue_name = "none"


async def load(store: Any, all_jobs: list[Job]) -> float:
    """Store ``all_jobs`` in batches of one transaction each (one partition's jobs on Table
    storage, LOADERS in flight); a batch whose answer was lost (Azurite drops connections
    under load) is sent again, and one that says its jobs exist had landed the first time."""
    started = time.perf_counter()
    size = TABLE_BATCH if hasattr(store, "partition_key") else LOAD_CHUNK
    parts: dict[str, list[Job]] = {}
    for job in all_jobs:
        key = store.partition_key(job.tenant_id, job.job_id) if size == TABLE_BATCH else ""
        parts.setdefault(key, []).append(job)
    # Round robin over the partitions: one process's writes to a partition take turns
    # (its counters), so the batches in flight go to different partitions.
    per_part = [[p[i : i + size] for i in range(0, len(p), size)] for p in parts.values()]
    batches = [b for row in itertools.zip_longest(*per_part) for b in row if b is not None]
    gate = asyncio.Semaphore(LOADERS)
    done = [0]

    def landed(batch: list[Job]) -> None:
        step = max(len(all_jobs) // 10, 1)
        before, done[0] = done[0], done[0] + len(batch)
        if len(all_jobs) >= 50_000 and before // step != done[0] // step:
            took = time.perf_counter() - started
            print(f"  {done[0]:,} of {len(all_jobs):,} jobs in {took:.0f} s", flush=True)

    async def put(batch: list[Job]) -> None:
        async with gate:
            for attempt in range(8):
                try:
                    await store.create_many(batch)
                    landed(batch)
                    return
                except Exception as exc:  # a bench: any failure is tried again
                    if attempt and "exist" in repr(exc).lower():
                        landed(batch)
                        return  # the try before landed; its answer was lost
                    if attempt == 7:
                        raise
                    await asyncio.sleep(0.5 * 2**attempt)

    await asyncio.gather(*(put(batch) for batch in batches))
    return time.perf_counter() - started


async def measure(store: Any, counter: Counting | None, n: int) -> list[dict[str, Any]]:
    rows = []
    for name, read in reads(store).items():
        times = []
        for _ in range(REPEATS):
            if counter:
                counter.requests = counter.entities = 0
            started = time.perf_counter()
            result = await read()
            times.append((time.perf_counter() - started) * 1000)
        row = {"read": name, "jobs": n, "ms": statistics.median(times)}
        if counter:
            row.update(requests=counter.requests, entities=counter.entities)
        if name == "stats":
            row["exact"] = result["jobs"]["total"] == n and not result["truncated"]
        elif isinstance(result, int):
            row["items"] = result
        else:
            row["items"] = len(result.items)
        rows.append(row)
    return rows


async def run_sqlite(n: int, folder: Path) -> tuple[float, list[dict[str, Any]]]:
    from shared.adapters.sqlite import Database, SqliteStatusStore

    db = Database(folder / f"scale-{n}.sqlite3")
    try:
        store = SqliteStatusStore(db)
        took = await load(store, jobs(n, datetime.now(UTC)))
        return took, await measure(store, None, n)
    finally:
        db.close()


async def run_table(
    n: int, connection: str, loaded: bool = False
) -> tuple[float, list[dict[str, Any]]]:
    """``n`` jobs loaded through Azurite's API (unless ``loaded`` already), then read."""
    from azure.data.tables.aio import TableServiceClient

    from shared.adapters.azure.table_status import TableStatusStore

    service = TableServiceClient.from_connection_string(connection)
    store = TableStatusStore(service, f"scale{n}")
    try:
        took = 0.0 if loaded else await load(store, jobs(n, datetime.now(UTC)))
        counter = Counting(store.table)
        store.table = counter
        return took, await measure(store, counter, n)
    finally:
        await store.close()


async def run_table_file(n: int, folder: Path) -> tuple[float, list[dict[str, Any]]]:
    """``n`` jobs through the store's batched writes into a table in memory, written as
    Azurite's database file (bench/azurite_file.py); then an Azurite on that file."""
    from azurite_file import MemoryTable, write_database

    from shared.adapters.azure.table_status import INDEX_MARKER, MARKERS_PARTITION, TableStatusStore
    from tests.support.emulators import Azurite

    started = time.perf_counter()
    table = MemoryTable()
    store = TableStatusStore(SimpleNamespace(get_table_client=lambda _: table), f"scale{n}")
    await table.submit_transaction(
        [("create", {"PartitionKey": MARKERS_PARTITION, "RowKey": INDEX_MARKER, "value": "1"})]
    )
    await store.create_batched([(store._entity(job), job) for job in jobs(n, datetime.now(UTC))])
    write_database(folder, {f"scale{n}": table})
    took = time.perf_counter() - started
    azurite = Azurite(location=folder).start(timeout=600)
    try:
        return took, (await run_table(n, azurite.connection_string, loaded=True))[1]
    finally:
        azurite.stop()


def print_table(backend: str, loads: dict[int, float], rows: list[dict[str, Any]]) -> None:
    sizes = sorted(loads)
    print(f"\n{backend}: load " + ", ".join(f"{n:,} jobs in {loads[n]:.1f} s" for n in sizes))
    head = "| read | " + " | ".join(f"{n:,} jobs" for n in sizes) + " |"
    print(head)
    print("|---" * (len(sizes) + 1) + "|")
    for name in dict.fromkeys(r["read"] for r in rows):
        cells = []
        for n in sizes:
            r = next(r for r in rows if r["read"] == name and r["jobs"] == n)
            cell = f"{r['ms']:.1f} ms"
            if "requests" in r:
                cell += f", {r['requests']} req, {r['entities']} entities"
            if "exact" in r:
                cell += ", exact" if r["exact"] else ", NOT exact"
            cells.append(cell)
        print(f"| {name} | " + " | ".join(cells) + " |")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "table"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[1_000, 10_000, 100_000])
    parser.add_argument(
        "--table-load",
        choices=["api", "file"],
        default="api",
        help="load Azurite through its API, or write its database file from the store's"
        " own batched writes (for 100,000 jobs; see bench/azurite_file.py)",
    )
    args = parser.parse_args()
    if "sqlite" in args.backends:
        loads, rows = {}, []
        with tempfile.TemporaryDirectory() as tmp:
            for n in args.sizes:
                loads[n], measured = await run_sqlite(n, Path(tmp))
                rows += measured
        print_table("SQLite", loads, rows)
    if "table" in args.backends and args.table_load == "file":
        loads, rows = {}, []
        for n in args.sizes:
            with tempfile.TemporaryDirectory() as tmp:
                loads[n], measured = await run_table_file(n, Path(tmp))
            rows += measured
            print(f"  {n:,} jobs written as Azurite's file in {loads[n]:.0f} s", flush=True)
        print_table("Table storage (Azurite, loaded from its database file)", loads, rows)
    elif "table" in args.backends:
        from tests.support.emulators import Azurite

        azurite = Azurite().start()
        try:
            loads, rows = {}, []
            for n in args.sizes:
                loads[n], measured = await run_table(n, azurite.connection_string)
                rows += measured
                print(f"  loaded {n:,} jobs into Azurite in {loads[n]:.0f} s", flush=True)
            print_table("Table storage (Azurite)", loads, rows)
        finally:
            azurite.stop()


if __name__ == "__main__":
    asyncio.run(main())
