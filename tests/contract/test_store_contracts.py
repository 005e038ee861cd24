"""The StatusStore and ResultStore contracts, for every implementation."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from shared.errors import Conflict, NotFound, PreconditionFailed, TooLarge, ValidationFailed
from shared.jobs import Job, JobState
from shared.ports import (
    MAX_JOB_UTF16_BYTES,
    MAX_RESULT_BYTES,
    ResultStore,
    StatusStore,
    result_json,
    utf16_bytes,
)
from tests.contract.backends import RESULT_BACKENDS, STATUS_BACKENDS, Backends, port_fixture

MakeStatus = Callable[[], StatusStore]
MakeResults = Callable[[], ResultStore]


new_status = port_fixture(Backends.status, STATUS_BACKENDS)
new_results = port_fixture(Backends.results, RESULT_BACKENDS)


def new_job(tenant: str = "t1", job_type: str = "echo") -> Job:
    return Job.new(tenant_id=tenant, job_type=job_type, payload={"message": "x"}, max_attempts=3)


# --- StatusStore ---------------------------------------------------------------


async def test_create_then_get(new_status: MakeStatus) -> None:
    store = new_status()
    job = new_job()
    created = await store.create(job)
    assert created.etag
    got = await store.get("t1", job.job_id)
    assert got.model_dump() == job.model_dump()
    assert got.etag == created.etag


async def test_create_twice_conflicts(new_status: MakeStatus) -> None:
    store = new_status()
    job = new_job()
    await store.create(job)
    with pytest.raises(Conflict):
        await store.create(job)


async def test_get_unknown_is_not_found(new_status: MakeStatus) -> None:
    with pytest.raises(NotFound):
        await new_status().get("t1", "01nonexistent")


async def test_another_tenants_job_is_not_found(new_status: MakeStatus) -> None:
    store = new_status()
    job = await store.create(new_job("t1"))
    with pytest.raises(NotFound):
        await store.get("t2", job.job_id)
    with pytest.raises(NotFound):
        await store.replace(job.model_copy(update={"tenant_id": "t2"}).moved_to(JobState.CANCELLED))
    await store.delete("t2", job.job_id)
    assert (await store.get("t1", job.job_id)).state is JobState.QUEUED


async def test_replace_is_conditional(new_status: MakeStatus) -> None:
    store = new_status()
    created = await store.create(new_job())
    running = await store.replace(created.moved_to(JobState.RUNNING, attempt=1))
    assert running.etag != created.etag
    assert (await store.get("t1", created.job_id)).state is JobState.RUNNING
    with pytest.raises(PreconditionFailed):
        await store.replace(created.moved_to(JobState.CANCELLED))  # stale etag
    assert (await store.get("t1", created.job_id)).state is JobState.RUNNING
    with pytest.raises(NotFound):
        await store.replace(new_job().model_copy(update={"etag": running.etag}))


async def test_concurrent_replaces_with_one_etag_have_one_winner(new_status: MakeStatus) -> None:
    store = new_status()
    other = new_status()  # a second connection, as another process
    created = await store.create(new_job())
    attempts = [
        (store if i % 2 else other).replace(created.moved_to(JobState.RUNNING, stage=f"w{i}"))
        for i in range(8)
    ]
    outcomes = await asyncio.gather(*attempts, return_exceptions=True)
    winners = [o for o in outcomes if isinstance(o, Job)]
    assert len(winners) == 1
    assert all(isinstance(o, PreconditionFailed) for o in outcomes if not isinstance(o, Job))
    assert (await store.get("t1", created.job_id)).stage == winners[0].stage


async def test_list_is_per_tenant_newest_first_with_filters(new_status: MakeStatus) -> None:
    store = new_status()
    mine = [await store.create(new_job("t1", "echo" if i % 2 else "simulate")) for i in range(6)]
    await store.create(new_job("t2"))
    page = await store.list("t1", limit=50)
    assert [j.job_id for j in page.items] == [j.job_id for j in reversed(mine)]
    assert page.next_cursor is None
    assert all(j.tenant_id == "t1" for j in page.items)
    echo = await store.list("t1", job_type="echo")
    assert {j.job_type for j in echo.items} == {"echo"} and len(echo.items) == 3
    await store.replace(mine[0].moved_to(JobState.CANCELLED))
    cancelled = await store.list("t1", state=JobState.CANCELLED)
    assert [j.job_id for j in cancelled.items] == [mine[0].job_id]
    assert (await store.list("t1", state=JobState.CANCELLED, job_type="echo")).items == []
    assert (await store.list("nobody")).items == []


async def test_cursor_paging_visits_each_job_once(new_status: MakeStatus) -> None:
    store = new_status()
    ids = {(await store.create(new_job())).job_id for _ in range(23)}
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await store.list("t1", limit=5, cursor=cursor)
        pages += 1
        assert len(page.items) <= 5
        seen += [j.job_id for j in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert pages == 5
    assert len(seen) == len(set(seen)) and set(seen) == ids
    assert seen == sorted(seen, reverse=True)


async def test_a_bad_cursor_is_a_validation_error(new_status: MakeStatus) -> None:
    with pytest.raises(ValidationFailed):
        await new_status().list("t1", cursor="!!not-a-cursor\xff")


def job_with(text: str, tenant: str = "t1") -> Job:
    return Job.new(tenant_id=tenant, job_type="echo", payload={"message": text}, max_attempts=3)


@pytest.mark.parametrize(
    "text",
    [
        "\U0001f600" * 30_000,  # 30,000 emoji: 30,000 characters, 120,000 bytes as UTF-16
        # astral characters of several planes, shifted by one BMP character so that
        # surrogate pairs straddle the cuts (kept under 1 MiB as the escaped JSON body,
        # which is what Azurite measures an update against)
        "x" + "\U0001f680\U00020000\U0001d11e\u00e9" * 10_000,
    ],
    ids=["emoji", "astral-mix"],
)
async def test_jobs_with_astral_characters_round_trip(new_status: MakeStatus, text: str) -> None:
    """Table storage counts a string property in UTF-16 bytes (64 KiB at most): a job is
    cut by that measure, and never inside a surrogate pair."""
    store = new_status()
    job = job_with(text)
    assert utf16_bytes(text[:30_000]) > 65_536, "30,000 characters overflow one property"
    created = await store.create(job)
    assert (await store.get("t1", job.job_id)).payload == job.payload
    running = await store.replace(created.moved_to(JobState.RUNNING, attempt=1))
    got = await store.get("t1", job.job_id)
    assert got.payload == job.payload and got.etag == running.etag


async def test_a_job_over_the_status_size_limit_is_refused_as_too_large(
    new_status: MakeStatus,
) -> None:
    """Every store refuses the same jobs (the limit Table storage's 1 MiB entity sets),
    as a permanent TooLarge that changes nothing."""
    store = new_status()
    fits = job_with("\U0001f600" * ((MAX_JOB_UTF16_BYTES - 2_000) // 4))
    assert utf16_bytes(fits.model_dump_json()) <= MAX_JOB_UTF16_BYTES
    created = await store.create(fits)
    assert (await store.get("t1", fits.job_id)).payload == fits.payload
    with pytest.raises(TooLarge) as refused:
        await store.create(job_with("\U0001f600" * (MAX_JOB_UTF16_BYTES // 4)))
    assert f"{MAX_JOB_UTF16_BYTES:,}" in str(refused.value)
    grown = created.moved_to(
        JobState.RUNNING, payload={"message": created.payload["message"] + "\U0001f600" * 1000}
    )
    with pytest.raises(TooLarge):
        await store.replace(grown)
    assert (await store.get("t1", fits.job_id)).etag == created.etag, "nothing changed"


async def test_delete_removes(new_status: MakeStatus) -> None:
    store = new_status()
    job = await store.create(new_job())
    await store.delete("t1", job.job_id)
    with pytest.raises(NotFound):
        await store.get("t1", job.job_id)
    await store.delete("t1", job.job_id)  # deleting again is harmless


async def test_markers_are_kept_apart_from_the_jobs(new_status: MakeStatus) -> None:
    """A marker (e.g. the reconciler's place in a dead-letter queue) is shared by every
    client, overwritten by the last writer, and is no tenant's job."""
    store = new_status()
    other = new_status()  # another instance
    assert await store.get_marker("reconciler.jobs") is None
    await store.put_marker("reconciler.jobs", '{"tail": 7, "sweep": 0}')
    assert await other.get_marker("reconciler.jobs") == '{"tail": 7, "sweep": 0}'
    await other.put_marker("reconciler.jobs", '{"tail": 9, "sweep": 3}')
    assert await store.get_marker("reconciler.jobs") == '{"tail": 9, "sweep": 3}'
    assert await store.get_marker("reconciler.jobs-low") is None
    job = await store.create(new_job())
    assert [j.job_id for j in (await store.list("t1")).items] == [job.job_id]
    assert await store.purge_finished(datetime.now(UTC) + timedelta(days=1), 100) == 0
    assert await store.get_marker("reconciler.jobs") == '{"tail": 9, "sweep": 3}'
    with pytest.raises(ValueError):
        await store.put_marker("bad name/", "x")


# --- ResultStore ---------------------------------------------------------------


async def test_result_round_trip(new_results: MakeResults) -> None:
    results = new_results()
    value = {"a": [1, 2.5, None, True], "nested": {"s": "\u00e9\u4e2d"}}
    assert await results.put("j1", "t1", value) is True
    stored = await results.get("j1")
    assert stored is not None
    assert (stored.job_id, stored.tenant_id, stored.result) == ("j1", "t1", value)


async def test_result_is_written_once(new_results: MakeResults) -> None:
    results = new_results()
    assert await results.put("j1", "t1", {"v": 1}) is True
    assert await results.put("j1", "t1", {"v": 2}) is False
    stored = await results.get("j1")
    assert stored is not None and stored.result == {"v": 1}


async def test_unknown_result_is_none(new_results: MakeResults) -> None:
    assert await new_results().get("nope") is None


async def test_large_results_round_trip(new_results: MakeResults) -> None:
    results = new_results()
    big = {"blob": "x" * (200 * 1024), "items": list(range(5000))}
    assert await results.put("big", "t1", big)
    stored = await results.get("big")
    assert stored is not None and stored.result == big


async def test_a_result_over_the_limit_is_refused_as_too_large(new_results: MakeResults) -> None:
    """Both stores keep results up to the same size, and refuse a larger one with a
    permanent TooLarge naming the limit, storing nothing."""
    results = new_results()
    fits = {"blob": "x" * (MAX_RESULT_BYTES - 20)}
    assert len(result_json(fits).encode()) <= MAX_RESULT_BYTES
    assert await results.put("fits", "t1", fits)
    stored = await results.get("fits")
    assert stored is not None and stored.result == fits
    # 200,000 emoji are 800,000 bytes of UTF-8, but 2,400,000 as the escaped JSON sent
    too_big = {"blob": "\U0001f600" * 200_000}
    with pytest.raises(TooLarge) as refused:
        await results.put("big", "t1", too_big)
    assert f"{MAX_RESULT_BYTES:,}" in str(refused.value)
    assert refused.value.limit == MAX_RESULT_BYTES
    assert await results.get("big") is None


async def test_racing_guarded_updates_all_apply(new_status: MakeStatus) -> None:
    """Two writers (separate clients) each record 10 changes on one job at once: every
    lost race re-reads and re-applies, so no change is overwritten blindly."""
    from shared.guarded import guarded_update
    from shared.jobs import JobError, utcnow

    first, second = new_status(), new_status()
    job = await first.create(new_job())

    def add_error(label: str):  # type: ignore[no-untyped-def]
        def change(current: Job) -> Job:
            error = JobError(type=label, message=label, retryable=True, attempt=1, at=utcnow())
            return current.model_copy(update={"errors": [*current.errors, error]})

        return change

    async def writer(store: StatusStore, name: str) -> None:
        for i in range(10):
            await guarded_update(store, "t1", job.job_id, add_error(f"{name}{i}"))

    await asyncio.gather(writer(first, "a"), writer(second, "b"))
    final = await first.get("t1", job.job_id)
    labels = [e.type for e in final.errors]
    assert sorted(labels) == sorted([f"a{i}" for i in range(10)] + [f"b{i}" for i in range(10)])
    assert [label for label in labels if label.startswith("a")] == [f"a{i}" for i in range(10)]


async def test_counts_by_state_and_type_and_completions_per_minute(
    new_status: MakeStatus,
) -> None:
    from datetime import UTC, datetime, timedelta

    store = new_status()
    base = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)

    async def job_in(state: JobState, job_type: str, finished: datetime | None = None) -> None:
        job = await store.create(new_job(job_type=job_type))
        if state is not JobState.QUEUED:
            await store.replace(job.model_copy(update={"state": state, "finished_at": finished}))

    await job_in(JobState.QUEUED, "echo")
    await job_in(JobState.QUEUED, "echo")
    await job_in(JobState.RUNNING, "simulate")
    await job_in(JobState.FAILED, "simulate", base + timedelta(minutes=1))
    await job_in(JobState.COMPLETED, "echo", base - timedelta(minutes=5))  # before the window
    await job_in(JobState.COMPLETED, "echo", base + timedelta(minutes=1, seconds=5))
    await job_in(JobState.COMPLETED, "echo", base + timedelta(minutes=1, seconds=59))
    await job_in(JobState.COMPLETED, "simulate", base + timedelta(minutes=3, seconds=30))
    await store.create(new_job(tenant="t2"))  # another tenant's

    counts = await store.counts("t1", completed_since=base)
    assert counts.by_state_and_type == {
        ("queued", "echo"): 2,
        ("running", "simulate"): 1,
        ("failed", "simulate"): 1,
        ("completed", "echo"): 3,
        ("completed", "simulate"): 1,
    }
    assert counts.completed_per_minute == [
        (base + timedelta(minutes=1), 2),
        (base + timedelta(minutes=3), 1),
    ]
    assert not counts.truncated
    empty = await store.counts("nobody", completed_since=base)
    assert empty.by_state_and_type == {} and empty.completed_per_minute == []


async def test_purge_finished_deletes_old_terminal_jobs_only(new_status: MakeStatus) -> None:
    """Retention deletes terminal jobs finished before the cutoff, at most ``limit`` a
    call; it keeps unfinished jobs however old, and jobs finished after the cutoff
    (including one made just before it: made and finished are minutes apart)."""
    from ulid import ULID

    store = new_status()
    cutoff = datetime(2026, 11, 1, tzinfo=UTC)

    async def job_in(
        state: JobState, finished: datetime | None, made: datetime, tenant: str = "t1"
    ) -> str:
        job = new_job(tenant=tenant).model_copy(
            update={"job_id": str(ULID.from_datetime(made)).lower(), "created_at": made}
        )
        job = await store.create(job)
        if state is not JobState.QUEUED:
            await store.replace(job.model_copy(update={"state": state, "finished_at": finished}))
        return job.job_id

    day = timedelta(days=1)
    old = [
        await job_in(JobState.COMPLETED, cutoff - 2 * day, made=cutoff - 3 * day),
        await job_in(JobState.FAILED, cutoff - timedelta(seconds=1), made=cutoff - day),
        await job_in(JobState.CANCELLED, cutoff - 9 * day, made=cutoff - 9 * day, tenant="t2"),
        # made on a clock a little ahead of the one that finished it
        await job_in(JobState.COMPLETED, cutoff - timedelta(seconds=2), made=cutoff),
    ]
    kept = [
        await job_in(JobState.COMPLETED, cutoff + timedelta(seconds=1), made=cutoff - day),
        await job_in(JobState.QUEUED, None, made=cutoff - 30 * day),
        await job_in(JobState.RUNNING, None, made=cutoff - 30 * day),
        await job_in(JobState.COMPLETED, datetime.now(UTC), made=datetime.now(UTC)),
    ]
    assert await store.purge_finished(cutoff, limit=3) == 3, "at most limit per call"
    assert await store.purge_finished(cutoff, limit=10) == 1
    assert await store.purge_finished(cutoff, limit=10) == 0
    for job_id in old:
        for tenant in ("t1", "t2"):
            with pytest.raises(NotFound):
                await store.get(tenant, job_id)
    for job_id in kept:
        assert (await store.get("t1", job_id)).job_id == job_id


def test_sqlite_purge_reads_a_range_of_old_ids(backends: Backends) -> None:
    """Retention on SQLite reads the primary key's range of ids made before the cutoff,
    not the whole table (it holds the write lock while it runs)."""
    from shared.adapters.sqlite import SqliteStatusStore
    from shared.adapters.sqlite.status import PURGE_SQL

    SqliteStatusStore(db := backends.database())
    plan = [
        r["detail"]
        for r in db.connection().execute("EXPLAIN QUERY PLAN " + PURGE_SQL, ("01jd", "2026", 9))
    ]
    assert "SEARCH jobs USING PRIMARY KEY (job_id<?)" in plan, plan
    assert not [step for step in plan if step.startswith("SCAN")], plan


async def test_purge_older_results(new_results: MakeResults) -> None:
    from datetime import UTC, datetime, timedelta

    store = new_results()
    await store.put("j-old", "t1", 1)
    removed = await store.purge_older(datetime.now(UTC) + timedelta(seconds=5), limit=10)
    # A store whose service expires items itself (Cosmos DB TTL) reports 0 and keeps it.
    if removed:
        assert removed == 1 and await store.get("j-old") is None
    else:
        assert await store.get("j-old") is not None
    await store.put("j-new", "t1", 2)
    assert await store.purge_older(datetime.now(UTC) - timedelta(hours=1), limit=10) == 0
    assert await store.get("j-new") is not None
