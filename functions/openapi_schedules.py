"""The schedules' part of the OpenAPI document (functions/openapi.py builds the rest and
passes its helpers in): the request models of functions/request_models.py, the
schedule as the API answers it, and the /api/v1/schedules paths."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from functions.request_models import SchedulePatch, ScheduleRequest
from shared.constants import MAX_PAGE_SIZE
from shared.paging import CURSOR_PATTERN
from shared.schedules.model import Schedule

Helper = Callable[..., dict[str, Any]]


class ScheduleTick(BaseModel):
    tick_at: str
    outcome: str = Field(description="submitted, skipped (overlap) or claimed (in progress).")
    job_id: str | None


class ScheduleDetail(BaseModel):
    """GET /schedules/{id}: the schedule, and these."""

    next_fire_times: list[str] = Field(description="The next fire times (?preview=N).")
    jobs: list[ScheduleTick] = Field(description="The latest ticks, newest first (?jobs=N).")


def add_schemas(add: Callable[..., Any], out: dict[str, Any]) -> None:
    add(out, "ScheduleRequest", ScheduleRequest, mode="validation")
    add(out, "SchedulePatch", SchedulePatch, mode="validation")
    add(out, "Schedule", Schedule)
    del out["Schedule"]["properties"]["tenant_id"]
    out["Schedule"]["required"].remove("tenant_id")
    add(out, "ScheduleDetail", ScheduleDetail)


def paths(body: Helper, json: Helper, problems: Helper) -> dict[str, Any]:
    sid = {
        "name": "schedule_id",
        "in": "path",
        "required": True,
        "description": "The id; POST takes id:pause or id:resume.",
        "schema": {"type": "string", "pattern": r"^[0-9a-z]{26}(:(pause|resume))?$"},
    }
    page = [
        {
            "name": "limit",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
        },
        {"name": "cursor", "in": "query", "schema": {"type": "string", "pattern": CURSOR_PATTERN}},
    ]
    bad = problems(400, 401, 404, 415, 422, 503)
    return {
        "/api/v1/schedules": {
            "post": {
                "operationId": "create_schedule",
                "requestBody": body("ScheduleRequest"),
                "responses": {"201": json("Schedule", "created"), **bad},
            },
            "get": {
                "operationId": "list_schedules",
                "parameters": page,
                "responses": {"200": {"description": "a page of schedules"}, **bad},
            },
        },
        "/api/v1/schedules/{schedule_id}": {
            "get": {
                "operationId": "get_schedule",
                "parameters": [sid],
                "responses": {"200": json("ScheduleDetail"), **bad},
            },
            "patch": {
                "operationId": "update_schedule",
                "parameters": [sid],
                "requestBody": body("SchedulePatch"),
                "responses": {"200": json("Schedule"), **problems(412), **bad},
            },
            "delete": {
                "operationId": "delete_schedule",
                "parameters": [sid],
                "responses": {"204": {"description": "deleted"}, **bad},
            },
            "post": {
                "operationId": "schedule_action",
                "parameters": [sid],
                "responses": {"200": json("Schedule", "paused or resumed"), **bad},
            },
        },
    }
