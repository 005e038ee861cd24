"""The tick runner (shared/schedules/ticks.py) on a fake clock: one job per tick with two
hosts' runners racing on one store (one SQLite file; Table storage on Azurite), a dead
runner's claim taken over without a second job, both misfire policies, overlap skipping,
pause and resume."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.composition import Runtime
from shared.schedules.model import Schedule, TickClaim, TickOutcome
from shared.schedules.service import Schedules
from shared.schedules.ticks import submission_of, tick_key
from shared.settings import Settings

T0 = datetime(2026, 11, 29, 9, 0, 0, tzinfo=UTC)
TENANT = "local"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def at(self, **delta: float) -> None:
        self.now = T0 + timedelta(**delta)


def on_clock(rt: Runtime, clock: Clock) -> Schedules:
    schedules = rt.schedules
    assert schedules is not None
    rt.submissions.rules.clock = rt.submissions.clock = clock
    schedules.clock = schedules.ticks.clock = clock
    return schedules


Hosts = Callable[[int], list[Runtime]]


@pytest.fixture(params=["sqlite", "table"])
async def hosts(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Callable[[int], list[Runtime]]]:
    """``hosts(n)``: n runtimes (as n hosts would build them) on one store."""
    extra: dict[str, Any] = {}
    if request.param == "table":
        azurite = request.getfixturevalue("azurite")
        unique = "t" + uuid.uuid4().hex[:12]
        extra = {
            "status_backend": "table",
            "table_connection": azurite.connection_string,
            **{f"{n}_table": unique + n for n in ("status", "idempotency", "schedules")},
        }
    settings = Settings.load(None, data_dir=tmp_path, tenant_submissions_per_minute=0, **extra)
    made: list[Runtime] = []

    def build(n: int) -> list[Runtime]:
        made.extend(Runtime.from_settings(settings) for _ in range(n))
        return made[-n:]

    yield build
    for rt in made:
        await rt.close()


async def enqueued(rt: Runtime) -> int:
    depth = await rt.queue(rt.settings.jobs_queue).depth()
    return depth.active + depth.scheduled


async def new_schedule(schedules: Schedules, **fields: Any) -> Schedule:
    fields = {"name": "s", "template": {"job_type": "echo", "payload": {"message": "hi"}}} | fields
    if "cron" not in fields and "interval_seconds" not in fields:
        fields["cron"] = "* * * * *"
    return await schedules.create(TENANT, fields)


async def test_two_hosts_racing_make_one_job_per_tick(hosts: Hosts) -> None:
    clock = Clock()
    one, two = hosts(2)
    a, b = on_clock(one, clock), on_clock(two, clock)
    s = await new_schedule(a)
    assert s.next_fire_at == T0 + timedelta(minutes=1)
    made = []
    for minute in (1, 2, 3):
        clock.at(minutes=minute, seconds=5)
        made.append(await asyncio.gather(a.fire_due(), b.fire_due(), a.fire_due()))
    assert [sum(m) for m in made] == [1, 1, 1]
    ticks = await b.history(TENANT, s.schedule_id, 10)
    assert [t.tick_at for t in ticks] == [T0 + timedelta(minutes=m) for m in (3, 2, 1)]
    assert all(t.outcome is TickOutcome.SUBMITTED for t in ticks)
    assert len({t.job_id for t in ticks}) == 3
    assert await enqueued(one) == 3
    assert (await a.get(TENANT, s.schedule_id)).next_fire_at == T0 + timedelta(minutes=4)


async def test_a_dead_runners_claim_is_taken_over_with_the_job_it_made(hosts: Hosts) -> None:
    clock = Clock()
    [rt] = hosts(1)
    schedules = on_clock(rt, clock)
    s = await new_schedule(schedules)
    tick = T0 + timedelta(minutes=1)
    clock.at(minutes=1, seconds=1)
    # A runner claimed the tick, submitted its job and died before recording it.
    await schedules.store.claim_tick(TickClaim(TENANT, s.schedule_id, tick, clock.now, "dead"))
    job, _ = await rt.submissions.submit_once(TENANT, submission_of(s), tick_key(s, tick))
    clock.at(minutes=1, seconds=20)
    assert await schedules.fire_due() == 0, "a fresh claim is its runner's"
    assert (await schedules.get(TENANT, s.schedule_id)).next_fire_at == tick, "kept due"
    clock.at(minutes=1, seconds=40)
    assert await schedules.fire_due() == 1
    [recorded] = await schedules.history(TENANT, s.schedule_id, 10)
    assert (recorded.outcome, recorded.job_id) == (TickOutcome.SUBMITTED, job.job_id)
    assert await enqueued(rt) == 1


@pytest.mark.parametrize(("misfire", "expected"), [("skip", []), ("run_once", [5])])
async def test_missed_ticks_follow_the_misfire_policy(
    hosts: Hosts, misfire: str, expected: list[int]
) -> None:
    clock = Clock()
    [rt] = hosts(1)
    schedules = on_clock(rt, clock)
    s = await new_schedule(schedules, cron="0 * * * *", misfire=misfire)
    clock.at(hours=5, minutes=30)  # every host was down for the ticks of 1:00 to 5:00
    assert await schedules.fire_due() == len(expected)
    ticks = await schedules.history(TENANT, s.schedule_id, 10)
    assert [t.tick_at for t in ticks] == [T0 + timedelta(hours=h) for h in expected]
    after = await schedules.get(TENANT, s.schedule_id)
    assert after.next_fire_at == T0 + timedelta(hours=6)
    clock.at(hours=6, seconds=30)  # back on time: the next tick runs either way
    assert await schedules.fire_due() == 1
    assert await enqueued(rt) == len(expected) + 1


@pytest.mark.parametrize("overlap", ["skip", "allow"])
async def test_overlap_skip_passes_ticks_while_the_previous_job_runs(
    hosts: Hosts, overlap: str
) -> None:
    clock = Clock()
    [rt] = hosts(1)
    schedules = on_clock(rt, clock)
    s = await new_schedule(schedules, overlap=overlap)
    outcomes = []
    for minute in (1, 2, 3):
        clock.at(minutes=minute, seconds=2)
        if minute == 3:  # the first job ends
            first = (await schedules.history(TENANT, s.schedule_id, 10))[-1]
            assert first.job_id is not None
            await rt.submissions.cancel(TENANT, first.job_id)
        outcomes.append(await schedules.fire_due())
    ticks = await schedules.history(TENANT, s.schedule_id, 10)
    if overlap == "skip":
        assert outcomes == [1, 0, 1]
        assert [t.outcome for t in ticks] == [
            TickOutcome.SUBMITTED,
            TickOutcome.SKIPPED,
            TickOutcome.SUBMITTED,
        ]
    else:
        assert outcomes == [1, 1, 1]


async def test_a_paused_schedule_makes_no_job_and_resumes_from_now(hosts: Hosts) -> None:
    clock = Clock()
    [rt] = hosts(1)
    schedules = on_clock(rt, clock)
    s = await new_schedule(schedules, interval_seconds=600)
    paused = await schedules.pause(TENANT, s.schedule_id)
    assert paused.paused and paused.next_fire_at is None
    clock.at(minutes=35)
    assert await schedules.fire_due() == 0
    resumed = await schedules.resume(TENANT, s.schedule_id)
    assert resumed.next_fire_at == T0 + timedelta(minutes=40), "the pause is not made up for"
    clock.at(minutes=40, seconds=3)
    assert await schedules.fire_due() == 1
