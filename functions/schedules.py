"""Recurring schedules (shared/schedules/, docs/schedules.md): the ``fire_schedules``
timer, which turns every due tick into one job, and the /api/v1/schedules resources.
The local host runs the timer on the same NCRONTAB schedule (dtq/host/timers.py)."""

from __future__ import annotations

import logging

import azure.functions as func

from functions.runtime import runtime
from shared.schedules.service import Schedules

log = logging.getLogger(__name__)

bp = func.Blueprint()


def _schedules() -> Schedules:
    schedules = runtime().schedules
    assert schedules is not None, "the runtime builds the schedules service"
    return schedules


@bp.timer_trigger(
    schedule="%DTQ_SCHEDULES_TIMER_SCHEDULE%",
    arg_name="timer",
    run_on_startup=True,
    use_monitor=True,
)
async def fire_schedules(timer: func.TimerRequest) -> None:
    made = await _schedules().fire_due()
    if made:
        log.info("schedules: %d jobs submitted%s", made, " (past due)" if timer.past_due else "")
