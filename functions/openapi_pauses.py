"""The pauses' part of the OpenAPI document (functions/openapi.py passes its helpers in):
the request model of functions/request_models.py, the pause as the API answers it, and
the /api/v1/pauses paths (docs/pauses.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, Field

from functions.request_models import PauseRequest
from shared.access import TENANT_ID
from shared.jobs import Priority

Helper = Callable[..., dict[str, Any]]


class PauseBody(BaseModel):
    """A job type or a priority whose jobs are held."""

    kind: Literal["job_type", "priority"]
    value: str = Field(description="The job type's name, or the priority.")
    since: str = Field(description="When it was paused (RFC 3339, UTC).")
    by: str = Field(description="The key id (or tenant) that paused it.")
    reason: str
    tenant: str | None = Field(
        description="The tenant whose jobs it holds; null: every tenant's (an operator's)."
    )


class PauseList(BaseModel):
    items: list[PauseBody] = Field(
        description="Those holding every tenant's jobs, then the tenant's own; in each,"
        " priorities first, then job types."
    )


def add_schemas(add: Callable[..., Any], out: dict[str, Any], job_types: list[str]) -> None:
    add(out, "PauseRequest", PauseRequest, mode="validation")
    # A known job type (anything else is a 422 naming the field).
    props = out["PauseRequest"]["properties"]
    props["job_type"] = {"type": "string", "enum": job_types}
    props["priority"] = {"$ref": props["priority"]["anyOf"][0]["$ref"]}
    add(out, "Pause", PauseBody)
    add(out, "PauseList", PauseList)


def paths(body: Helper, json: Helper, problems: Helper, job_types: list[str]) -> dict[str, Any]:
    target = [
        {
            "name": "kind",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "enum": ["job_type", "priority"]},
        },
        {
            "name": "value",
            "in": "path",
            "required": True,
            "description": "The job type's name, or the priority.",
            "schema": {"type": "string", "enum": [*[p.value for p in Priority], *job_types]},
        },
    ]
    tenant = {
        "name": "tenant",
        "in": "query",
        "required": False,
        "description": "The tenant whose pause this is (an operator key; a tenant's key"
        " always acts on its own). Left out: every tenant's for an operator key.",
        "schema": {"type": "string", "pattern": f"^{TENANT_ID.pattern}$"},
    }
    return {
        "/api/v1/pauses": {
            "get": {
                "operationId": "list_pauses",
                "description": "The pauses that hold the caller's jobs: every tenant's,"
                " then its own (an operator key may name another tenant).",
                "parameters": [tenant],
                "responses": {"200": json("PauseList"), **problems(401, 403, 422, 503)},
            },
            "post": {
                "operationId": "pause",
                "description": "Hold the jobs of a job type or priority (no attempt spent)"
                " until resumed: a tenant's key holds its own; an operator key every"
                " tenant's, or the one `tenant` names.",
                "requestBody": body("PauseRequest"),
                "responses": {
                    "201": json("Pause", "paused"),
                    "200": json("Pause", "already paused (the first pause is kept)"),
                    **problems(400, 401, 403, 415, 422, 503),
                },
            },
        },
        "/api/v1/pauses/{kind}/{value}": {
            "delete": {
                "operationId": "resume",
                "description": "Let the held jobs run again (a tenant's key: its own"
                " pause; an operator key: every tenant's, or the one `tenant` names).",
                "parameters": [*target, tenant],
                "responses": {
                    "200": json("Pause", "resumed: the pause it ended"),
                    **problems(401, 403, 404, 422, 503),
                },
            }
        },
    }
