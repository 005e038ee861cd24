"""The StatusStore's indexes and counters (issue 21), for every implementation: each
list by state, type or both, and the counts, agree with the jobs themselves after racing
writers, purges, deletes and refused writes; a refused write changes none of them."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ulid import ULID

from shared.errors import Conflict, NotFound, PreconditionFailed
from shared.jobs import Job, JobState
from shared.ports import JobCounts, StatusStore
from tests.contract.backends import STATUS_BACKENDS, Backends, port_fixture

MakeStatus = Callable[[], StatusStore]
new_status = port_fixture(Backends.status, STATUS_BACKENDS)

BASE = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]
TYPES = ("echo", "simulate")


_made = itertools.count()


def new_job(tenant: str = "t1", job_type: str = "echo") -> Job:
    """A job made an hour before BASE (a millisecond after the one before), as its id
    says: the jobs here finish from BASE on, and retention reads ids by when they were
    made."""
    made = BASE - timedelta(hours=1) + timedelta(milliseconds=next(_made))
    job = Job.new(tenant_id=tenant, job_type=job_type, payload={"message": "x"}, max_attempts=3)
    return job.model_copy(update={"job_id": str(ULID.from_datetime(made)).lower()})


def moved(job: Job, state: JobState, minute: int = 1) -> Job:
    finished = BASE + timedelta(minutes=minute, seconds=7) if state.terminal else None
    return job.model_copy(update={"state": state, "finished_at": finished})


async def every_job(store: StatusStore, tenant: str) -> list[Job]:
    """The tenant's jobs, read page by page from the unfiltered list."""
    jobs: list[Job] = []
    cursor = None
    while True:
        page = await store.list(tenant, limit=7, cursor=cursor)
        jobs += page.items
        cursor = page.next_cursor
        if cursor is None:
            return jobs


async def listed(store: StatusStore, tenant: str, **where: Any) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        page = await store.list(tenant, limit=3, cursor=cursor, **where)
        assert len(page.items) <= 3
        ids += [j.job_id for j in page.items]
        cursor = page.next_cursor
        if cursor is None:
            return ids


async def assert_consistent(store: StatusStore, tenant: str = "t1") -> list[Job]:
    """Every filtered list pages through exactly the jobs of its state and type, newest
    first, and the counts are those of the jobs as stored."""
    jobs = await every_job(store, tenant)
    for state in JobState:
        want = [j.job_id for j in jobs if j.state is state]
        assert await listed(store, tenant, state=state) == want, state
        for job_type in TYPES:
            want_both = [j.job_id for j in jobs if j.state is state and j.job_type == job_type]
            assert await listed(store, tenant, state=state, job_type=job_type) == want_both
    for job_type in TYPES:
        want = [j.job_id for j in jobs if j.job_type == job_type]
        assert await listed(store, tenant, job_type=job_type) == want
    counts = await store.counts(tenant, completed_since=BASE)
    assert counts.by_state_and_type == dict(Counter((j.state.value, j.job_type) for j in jobs))
    assert counts.completed_per_minute == expected_minutes(jobs)
    assert not counts.truncated
    return jobs


def expected_minutes(jobs: list[Job]) -> list[tuple[datetime, int]]:
    minutes = Counter(
        j.finished_at.replace(second=0, microsecond=0)
        for j in jobs
        if j.state is JobState.COMPLETED and j.finished_at is not None and j.finished_at >= BASE
    )
    return sorted(minutes.items())


async def test_racing_writers_keep_lists_and_counts_exact(new_status: MakeStatus) -> None:
    """Three clients (as three processes) move 12 jobs through random states at once,
    several on the same job with one ETag: each lost race is PreconditionFailed, and
    the indexes and counters follow exactly the writes that won."""
    stores = [new_status() for _ in range(3)]
    jobs = [await stores[0].create(new_job(job_type=TYPES[i % 2])) for i in range(12)]
    await stores[0].create(new_job(tenant="t2"))
    rng = random.Random(21)
    lost = 0

    async def writer(store: StatusStore, rounds: int) -> None:
        nonlocal lost
        for _ in range(rounds):
            job = await store.get("t1", rng.choice(jobs).job_id)
            state = rng.choice(list(JobState))
            contenders = [moved(job, state, minute=rng.randrange(3)) for _ in range(2)]
            outcomes = await asyncio.gather(
                *(store.replace(c) for c in contenders), return_exceptions=True
            )
            for outcome in outcomes:
                if isinstance(outcome, BaseException):
                    assert isinstance(outcome, PreconditionFailed), outcome
                    lost += 1

    await asyncio.gather(*(writer(store, 8) for store in stores))
    assert lost >= 24, "every pair of writes with one ETag has one loser"
    await assert_consistent(stores[1])
    assert (await stores[2].counts("t2", completed_since=BASE)).by_state_and_type == {
        ("queued", "echo"): 1
    }


async def test_purge_and_delete_keep_lists_and_counts_exact(new_status: MakeStatus) -> None:
    store = new_status()
    cutoff = BASE + timedelta(minutes=2)
    for i, state in enumerate([JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED] * 3):
        job = await store.create(new_job(job_type=TYPES[i % 2]))
        await store.replace(moved(job, state, minute=i % 4))  # minutes 0..3
    running = await store.create(new_job())
    await store.replace(moved(running, JobState.RUNNING))
    doomed = await store.create(new_job(job_type="simulate"))
    await assert_consistent(store)

    await store.delete("t1", doomed.job_id)
    await store.delete("t1", doomed.job_id)  # twice: nothing more to take away
    purged = await store.purge_finished(cutoff, limit=100)
    assert purged == 5  # minutes 0 and 1 of the nine finished jobs
    jobs = await assert_consistent(store)
    assert len(jobs) == 5
    with pytest.raises(NotFound):
        await store.get("t1", doomed.job_id)


async def test_a_refused_write_changes_no_index_and_no_count(new_status: MakeStatus) -> None:
    """A write refused as a whole (a stale ETag, a job that exists, a job that is gone)
    leaves the lists and the counts exactly as they were: the index and counter changes
    are in the same transaction as the job's."""
    store, other = new_status(), new_status()
    job = await store.create(new_job())
    done = await store.replace(moved(job, JobState.COMPLETED))
    before = await assert_consistent(store)
    snapshot = await store.counts("t1", completed_since=BASE)

    with pytest.raises(PreconditionFailed):
        await other.replace(moved(job, JobState.FAILED))  # the ETag of the queued version
    with pytest.raises(Conflict):
        await other.create(job.model_copy(update={"job_type": "simulate"}))
    ghost = new_job()
    with pytest.raises(NotFound):
        await other.replace(ghost.model_copy(update={"etag": done.etag}))

    assert await assert_consistent(store) == before
    assert await store.counts("t1", completed_since=BASE) == snapshot
    assert [j.job_id for j in (await store.list("t1", state=JobState.COMPLETED)).items] == [
        job.job_id
    ]


async def test_counts_are_exact_per_tenant_and_minute(new_status: MakeStatus) -> None:
    store = new_status()
    for tenant, n in (("t1", 5), ("t2", 3)):
        for i in range(n):
            job = await store.create(new_job(tenant=tenant, job_type=TYPES[i % 2]))
            await store.replace(moved(job, JobState.COMPLETED, minute=i))
    counts = await store.counts("t2", completed_since=BASE + timedelta(minutes=1))
    assert counts == JobCounts(
        {("completed", "echo"): 2, ("completed", "simulate"): 1},
        [(BASE + timedelta(minutes=1), 1), (BASE + timedelta(minutes=2), 1)],
    )


async def test_rebuild_index_counts_a_store_written_before(new_status: MakeStatus) -> None:
    """``rebuild_index`` (dtq admin rebuild-index) makes the indexes and counters of the
    jobs stored, whatever they held before."""
    store = new_status()
    for i, state in enumerate([JobState.QUEUED, JobState.FAILED, JobState.COMPLETED] * 2):
        job = await store.create(new_job(job_type=TYPES[i % 2]))
        if state is not JobState.QUEUED:
            await store.replace(moved(job, state, minute=i))
    await forget_index(store)
    assert await store.rebuild_index() == 6
    assert await getattr(store, "uses_index", _true)()
    await assert_consistent(store)
    assert await store.rebuild_index() == 6  # again: the same
    await assert_consistent(store)
    assert await store.rebuild_index(recount=True) == 6  # the repair: the same
    await assert_consistent(store)


async def test_rebuild_index_while_writers_move_create_and_delete_jobs(
    new_status: MakeStatus,
) -> None:
    """``dtq rebuild-index`` is safe while the app runs: two other clients move jobs
    through states, add jobs and delete jobs while it indexes a store written before;
    afterwards every list and count agrees with the jobs."""
    store, *writers = [new_status() for _ in range(3)]
    jobs = [await store.create(new_job(job_type=TYPES[i % 2])) for i in range(40)]
    await forget_index(store)
    rng = random.Random(7)
    done = asyncio.Event()
    moves = 0

    async def writer(client: StatusStore) -> None:
        nonlocal moves
        while not done.is_set() or moves < 30:
            pick = rng.randrange(10)
            job_id = rng.choice(jobs).job_id
            try:
                if pick == 0:
                    jobs.append(await client.create(new_job(job_type=rng.choice(TYPES))))
                elif pick == 1:
                    await client.delete("t1", job_id)
                else:
                    job = await client.get("t1", job_id)
                    await client.replace(moved(job, rng.choice(list(JobState)), rng.randrange(3)))
                moves += 1
            except (NotFound, PreconditionFailed):
                pass  # deleted, or changed by the other writer: as the app would see it
            await asyncio.sleep(0)

    async def rebuild() -> int:
        try:
            return await store.rebuild_index()
        finally:
            done.set()

    seen, *_ = await asyncio.gather(rebuild(), *(writer(w) for w in writers))
    assert seen >= 30
    assert await getattr(store, "uses_index", _true)()
    await assert_consistent(store)
    await assert_consistent(writers[0])


async def _true() -> bool:
    return True


async def forget_index(store: StatusStore) -> None:
    """Break the store's counters as a bug would (SQLite), or take Table storage's
    index rows and counters away as a table written before them has none (its lists
    and counts then scan the job rows)."""
    from shared.adapters.azure.table_status import TableStatusStore
    from shared.adapters.sqlite import SqliteStatusStore

    truth = await store.counts("t1", completed_since=BASE)
    if isinstance(store, SqliteStatusStore):
        await store.db.write(lambda conn: conn.execute("UPDATE job_counts SET n = n + 5"))
        assert await store.counts("t1", completed_since=BASE) != truth
        return
    assert isinstance(store, TableStatusStore)
    await store.drop_index()
    assert not await store.uses_index()
    found = [e async for e in store.table.query_entities("RowKey ge '~'")]
    assert [e["PartitionKey"] for e in found] == ["~markers"] * len(found)
    assert await store.counts("t1", completed_since=BASE) == truth  # by scanning


# --- SQLite only: the query plans, and a database file written before the counters


@pytest.mark.parametrize("state", [None, JobState.FAILED])
@pytest.mark.parametrize("job_type", [None, "echo"])
@pytest.mark.parametrize("cursor", [None, "01jd0000000000000000000000"])
def test_sqlite_lists_are_index_ranges(
    backends: Backends, state: JobState | None, job_type: str | None, cursor: str | None
) -> None:
    """Each list reads a range of one index in its order: no scan, no sort."""
    from shared.adapters.sqlite import SqliteStatusStore
    from shared.adapters.sqlite.status import list_query

    SqliteStatusStore(db := backends.database())
    sql, args = list_query("t1", state, job_type, cursor, 50)
    plan = " | ".join(
        r["detail"] for r in db.connection().execute("EXPLAIN QUERY PLAN " + sql, args)
    )
    assert plan.startswith("SEARCH jobs USING INDEX jobs_by_tenant"), plan
    assert "TEMP B-TREE" not in plan and "|" not in plan, plan
    wanted = "jobs_by_tenant" + "_state" * (state is not None) + "_type" * (job_type is not None)
    assert f"INDEX {wanted} " in plan, plan


async def test_sqlite_counts_a_database_written_before_the_counters(backends: Backends) -> None:
    from shared.adapters.sqlite import Database, SqliteStatusStore

    store = SqliteStatusStore(backends.database())
    for i, state in enumerate([JobState.QUEUED, JobState.COMPLETED, JobState.FAILED] * 2):
        job = await store.create(new_job(job_type=TYPES[i % 2]))
        if state is not JobState.QUEUED:
            await store.replace(moved(job, state, minute=i))
    want = await store.counts("t1", completed_since=BASE)

    def drop(conn: Any) -> None:  # as a file written before issue 21 has it
        conn.execute("DROP TABLE job_counts")
        conn.execute("DROP TABLE job_completions")

    await store.db.write(drop)
    store.db.close()
    reopened = SqliteStatusStore(db := Database(backends.path))
    backends.databases.append(db)
    assert await reopened.counts("t1", completed_since=BASE) == want
    assert len(want.completed_per_minute) == 2
    await assert_consistent(reopened)


# --- dtq rebuild-index, on the store the app's settings name


@pytest.mark.parametrize("kind", STATUS_BACKENDS)
async def test_dtq_rebuild_index_repairs_the_configured_store(
    backends: Backends, kind: str
) -> None:
    import os
    import subprocess
    import sys

    backends.path = backends.path.parent / "data" / "dtq.sqlite3"  # where the settings look
    store = backends.status(kind)
    for i, state in enumerate([JobState.QUEUED, JobState.COMPLETED, JobState.FAILED]):
        job = await store.create(new_job(job_type=TYPES[i % 2]))
        if state is not JobState.QUEUED:
            await store.replace(moved(job, state, minute=i))
    await forget_index(store)
    settings = backends.settings(kind)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DTQ_")}
    env["DTQ_DATA_DIR"] = str(backends.path.parent)
    if kind == "table":
        env.update(
            DTQ_STATUS_BACKEND="table",
            DTQ_STATUS_TABLE=settings.status_table,
            TableStorageConnection=settings.table_connection or "",
        )
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "dtq.cli", "rebuild-index", "--app-dir", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert f"rebuilt the index of 3 jobs ({kind})" in done.stdout
    if kind == "table":
        assert await backends.status(kind).uses_index()  # type: ignore[attr-defined]
    await assert_consistent(backends.status(kind))


async def test_table_rebuild_reads_again_a_counter_another_writer_deleted(
    backends: Backends,
) -> None:
    """Indexing a row written before the index changes its partition's counters under
    the ETags this process last saw; a counter another writer took to 0 (and so deleted)
    meanwhile is read again, not tried until the rebuild gives up."""
    from shared.adapters.azure.table_status import TableStatusStore

    store, other = backends.status("table"), backends.status("table")
    assert isinstance(store, TableStatusStore)
    old = await store.create(new_job())
    await store.drop_index()  # ``old`` is now a row written before the index
    pk = store.partition_key("t1", old.job_id)
    while True:  # a job of the same partition, counted: its queued counter is 1
        job = await store.create(new_job())
        if store.partition_key("t1", job.job_id) == pk:
            break
        await store.delete("t1", job.job_id)
    moved_away = await other.get("t1", job.job_id)
    await other.replace(moved(moved_away, JobState.RUNNING))  # the queued counter: 0, gone
    assert await store.rebuild_index() == 2
    jobs = await assert_consistent(store)
    assert {j.state for j in jobs} == {JobState.QUEUED, JobState.RUNNING}


async def test_table_rebuild_leaves_alone_every_row_deleted_since_it_read_them(
    backends: Backends,
) -> None:
    """Retention may delete whole runs of old rows while ``rebuild-index`` works through
    a partition it read: each deleted row is dropped from its transaction, however many
    there are, and the rest are indexed."""
    from shared.adapters.azure.table_index import INDEX_START
    from shared.adapters.azure.table_status import TableStatusStore

    store, other = backends.status("table"), backends.status("table")
    assert isinstance(store, TableStatusStore)
    pk = store.partition_key("t1", (await store.create(new_job())).job_id)
    while (
        len(
            mine := [
                r
                async for r in store.table.query_entities(
                    f"PartitionKey eq '{pk}' and RowKey lt '{INDEX_START}'"
                )
            ]
        )
        < 30
    ):
        await store.create_many([new_job() for _ in range(40)])
    await store.drop_index()
    rows = [
        r
        async for r in store.table.query_entities(
            f"PartitionKey eq '{pk}' and RowKey lt '{INDEX_START}'"
        )
    ]
    for row in rows[:25]:  # deleted after the rebuild read them
        await other.delete("t1", row["job_id"])
    assert await store.index_rows_of(pk, rows) == len(rows) - 25
    assert len(mine) >= 30
    await store.rebuild_index()  # the other partitions
    await assert_consistent(store)
