"""Timers: retention (deletes finished jobs past DTQ_RETENTION_SECONDS, expired
idempotency keys, and embedded results past their TTL; Cosmos DB expires results
itself), and the reconciler that fails jobs whose message the queue dead-lettered on its
own. The local host runs timers on the same schedules (dtq/host/timers.py)."""

from __future__ import annotations

import logging

import azure.functions as func

from functions.runtime import runtime

log = logging.getLogger(__name__)

bp = func.Blueprint()


@bp.timer_trigger(
    schedule="%DTQ_RETENTION_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=True
)
async def apply_retention(timer: func.TimerRequest) -> None:
    purged = await runtime().retention.apply()
    log.info("retention: purged %s%s", purged, " (past due)" if timer.past_due else "")


@bp.timer_trigger(
    schedule="%DTQ_RECONCILE_SCHEDULE%", arg_name="timer", run_on_startup=True, use_monitor=True
)
async def reconcile_dead_letters(timer: func.TimerRequest) -> None:
    failed = await runtime().reconciler.reconcile()
    if failed:
        log.warning("reconcile: %d jobs failed whose message the queue dead-lettered", failed)
