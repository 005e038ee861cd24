"""Timer triggers for the local host: each function runs on its NCRONTAB schedule (six
fields, seconds first, as Azure Functions reads it), one invocation at a time, in the
``dtq serve`` process only (Azure runs a timer on one instance, too). A run that fails
is logged and the schedule goes on; a run that overruns its next time is not doubled:
the next run is computed after it ends, and flagged ``past_due`` if late."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from azure.functions.timer import TimerRequest
from croniter import croniter

from dtq.host.catalog import TimerFunction, invoke

log = logging.getLogger(__name__)


def next_time(schedule: str, after: datetime) -> datetime:
    """The first time strictly after ``after`` that ``schedule`` names (UTC)."""
    result: datetime = croniter(schedule, after, second_at_beginning=True).get_next(datetime)
    return result


def check_schedule(schedule: str) -> None:
    """Raise ValueError for a schedule that is not NCRONTAB with six fields."""
    if len(schedule.split()) != 6 or not croniter.is_valid(schedule, second_at_beginning=True):
        raise ValueError(
            f"timer schedule {schedule!r} is not NCRONTAB with six fields"
            " ({second} {minute} {hour} {day} {month} {day-of-week})"
        )


class TimerRunner:
    def __init__(self, timers: list[TimerFunction]) -> None:
        for timer in timers:
            check_schedule(timer.schedule)
        self.timers = timers
        self.runs: dict[str, int] = {t.name: 0 for t in timers}

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.gather(*(self._loop(t, stop) for t in self.timers))

    async def _loop(self, timer: TimerFunction, stop: asyncio.Event) -> None:
        if timer.run_on_startup:
            await self._invoke(timer, past_due=False)
        due = next_time(timer.schedule, datetime.now(UTC))
        while not stop.is_set():
            wait = (due - datetime.now(UTC)).total_seconds()
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)
                if stop.is_set():
                    return
            late = (datetime.now(UTC) - due).total_seconds() > 1
            await self._invoke(timer, past_due=late)
            due = next_time(timer.schedule, max(due, datetime.now(UTC)))

    async def _invoke(self, timer: TimerFunction, past_due: bool) -> None:
        self.runs[timer.name] += 1
        try:
            await invoke(timer.fn, **{timer.arg_name: TimerRequest(past_due=past_due)})
        except Exception:
            log.exception("timer %s failed; it runs again on schedule", timer.name)
