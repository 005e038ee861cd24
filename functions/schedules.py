"""Recurring schedules (shared/schedules/, docs/schedules.md): the ``fire_schedules``
timer, which turns every due tick into one job, and the /api/v1/schedules resources.
The local host runs the timer on the same NCRONTAB schedule (dtq/host/timers.py)."""

from __future__ import annotations

import logging

import azure.functions as func

from functions.api import tenant_of
from functions.decoding import int_param, json_body, parse_model
from functions.endpoint import endpoint
from functions.problems import HttpProblem
from functions.request_models import SchedulePatch, ScheduleRequest
from functions.responses import conditional_json, json_response
from functions.runtime import runtime
from shared.constants import DEFAULT_PAGE_SIZE
from shared.errors import NotFound, PreconditionFailed
from shared.jobs import iso_utc
from shared.schedules.model import Schedule
from shared.schedules.service import MAX_PREVIEW, Schedules

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


def _url(schedule_id: str) -> str:
    return f"/api/v1/schedules/{schedule_id}"


def schedule_body(s: Schedule) -> dict[str, object]:
    body = s.model_dump(mode="json", exclude={"tenant_id"})
    for name in ("start_at", "end_at", "next_fire_at", "last_tick_at", "created_at", "updated_at"):
        at = getattr(s, name)
        body[name] = iso_utc(at) if at is not None else None
    return {**body, "links": {"self": _url(s.schedule_id)}}


def _answer(s: Schedule, status: int = 200) -> func.HttpResponse:
    headers = {"ETag": f'"{s.etag}"', "Location": _url(s.schedule_id)}
    return json_response(schedule_body(s), status, headers)


def _if_match(req: func.HttpRequest) -> str | None:
    header = req.headers.get("If-Match")
    return header.strip().removeprefix("W/").strip('"') if header else None


@bp.route(route="v1/schedules", methods=["POST"])
@endpoint
async def create_schedule(req: func.HttpRequest) -> func.HttpResponse:
    body = parse_model(ScheduleRequest, json_body(req))
    return _answer(await _schedules().create(await tenant_of(req), body.fields()), 201)


@bp.route(route="v1/schedules", methods=["GET"])
@endpoint
async def list_schedules(req: func.HttpRequest) -> func.HttpResponse:
    page = await _schedules().list_schedules(
        await tenant_of(req),
        int_param(req, "limit", DEFAULT_PAGE_SIZE),
        req.params.get("cursor") or None,
    )
    body = {"items": [schedule_body(s) for s in page.items], "next_cursor": page.next_cursor}
    return conditional_json(req, body)


@bp.route(route="v1/schedules/{schedule_id}", methods=["GET"])
@endpoint
async def get_schedule(req: func.HttpRequest) -> func.HttpResponse:
    """The schedule, its next fire times (``?preview=N``, default 5) and the jobs its
    latest ticks made, newest first (``?jobs=N``, default 20)."""
    schedules, tenant = _schedules(), await tenant_of(req)
    s = await schedules.get(tenant, req.route_params["schedule_id"])
    n = min(max(int_param(req, "preview", 5), 0), MAX_PREVIEW)
    ticks = await schedules.history(
        tenant, s.schedule_id, min(max(int_param(req, "jobs", 20), 1), 100)
    )
    body = {
        **schedule_body(s),
        "next_fire_times": [iso_utc(at) for at in schedules.preview(s, n)],
        "jobs": [
            {"tick_at": iso_utc(t.tick_at), "outcome": t.outcome.value, "job_id": t.job_id}
            for t in ticks
        ],
    }
    return json_response(body, 200, {"ETag": f'"{s.etag}"', "Cache-Control": "no-cache"})


@bp.route(route="v1/schedules/{schedule_id}", methods=["PATCH"])
@endpoint
async def update_schedule(req: func.HttpRequest) -> func.HttpResponse:
    """Change some fields (If-Match: only if unchanged since that ETag)."""
    body, if_match = parse_model(SchedulePatch, json_body(req)), _if_match(req)
    try:
        s = await _schedules().update(
            await tenant_of(req), req.route_params["schedule_id"], body.fields(), if_match
        )
    except PreconditionFailed as exc:
        if if_match is None:
            raise
        raise HttpProblem(412, "Precondition failed", str(exc)) from None
    return _answer(s)


@bp.route(route="v1/schedules/{schedule_id}", methods=["DELETE"])
@endpoint
async def delete_schedule(req: func.HttpRequest) -> func.HttpResponse:
    await _schedules().delete(await tenant_of(req), req.route_params["schedule_id"])
    return func.HttpResponse(status_code=204)


@bp.route(route="v1/schedules/{schedule_id}", methods=["POST"])
@endpoint
async def schedule_action(req: func.HttpRequest) -> func.HttpResponse:
    """``POST /schedules/{id}:pause`` and ``:resume`` (custom methods, AIP-136: one
    route, so the same template works on both hosts)."""
    schedule_id, _, verb = req.route_params["schedule_id"].partition(":")
    schedules, tenant = _schedules(), await tenant_of(req)
    if verb == "pause":
        return _answer(await schedules.pause(tenant, schedule_id))
    if verb == "resume":
        return _answer(await schedules.resume(tenant, schedule_id))
    raise NotFound(f"no such action {verb!r}: POST {_url(schedule_id)}:pause or :resume")
