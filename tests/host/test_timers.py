"""The local host's timer triggers: NCRONTAB schedules, runs, failures."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import azure.functions as func
import pytest

from dtq.host.catalog import TimerFunction
from dtq.host.timers import TimerRunner, check_schedule, next_time


def test_schedules_are_ncrontab_with_seconds_first() -> None:
    at = datetime(2026, 11, 23, 10, 7, 30, tzinfo=UTC)
    assert next_time("0 15 * * * *", at) == datetime(2026, 11, 23, 10, 15, tzinfo=UTC)
    assert next_time("*/10 * * * * *", at) == datetime(2026, 11, 23, 10, 7, 40, tzinfo=UTC)
    assert next_time("0 0 3 * * *", at) == datetime(2026, 11, 24, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize("bad", ["* * * * *", "0 15 * * * * *", "nonsense", "61 * * * * *"])
def test_other_schedules_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="NCRONTAB"):
        check_schedule(bad)


async def test_a_timer_runs_on_schedule_and_survives_a_failing_run() -> None:
    seen: list[bool] = []

    async def tick(timer: func.TimerRequest) -> None:
        seen.append(timer.past_due)
        if len(seen) == 1:
            raise RuntimeError("the first run fails")

    runner = TimerRunner([TimerFunction("tick", "* * * * * *", "timer", tick, run_on_startup=True)])
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    await asyncio.sleep(2.3)
    stop.set()
    await asyncio.wait_for(task, 2)
    assert 3 <= len(seen) <= 4, "on start-up, then every second, despite the failure"
    assert runner.runs["tick"] == len(seen)
