"""Pauses of processing per job type and per priority (shared/pauses.py, docs/pauses.md):
the /api/v1/pauses resources. Anyone with access reads them (they hold every tenant's
jobs); only the operator sets or clears one."""

from __future__ import annotations

from typing import cast

import azure.functions as func

from functions.api import caller_of
from functions.decoding import json_body, parse_model
from functions.endpoint import endpoint
from functions.problems import HttpProblem
from functions.request_models import PauseRequest
from functions.responses import json_response
from functions.runtime import runtime
from shared.access import Caller
from shared.errors import FieldError, NotFound, ValidationFailed
from shared.pauses import Kind, Pause, Pauses

bp = func.Blueprint()

KINDS = ("job_type", "priority")


def _pauses() -> Pauses:
    pauses = runtime().pauses
    assert pauses is not None, "the runtime builds the pauses"
    return pauses


def _url(pause: Pause) -> str:
    return f"/api/v1/pauses/{pause.kind}/{pause.value}"


def _body(pause: Pause) -> dict[str, object]:
    return {**pause.to_public(), "links": {"self": _url(pause)}}


def _operator(caller: Caller) -> None:
    if not caller.operator:
        raise HttpProblem(
            403,
            "Forbidden",
            "a pause holds every tenant's jobs of its job type or priority: setting or"
            " clearing one needs an operator key (an API key whose id DTQ_OPERATOR_KEY_IDS"
            " lists)",
        )


def _checked(kind: Kind, value: str) -> None:
    try:
        _pauses().check(kind, value)
    except ValueError as exc:
        raise ValidationFailed(str(exc), [FieldError(kind, str(exc))]) from None


@bp.route(route="v1/pauses", methods=["GET"])
@endpoint
async def list_pauses(req: func.HttpRequest) -> func.HttpResponse:
    await caller_of(req)  # any caller with access: the pauses hold its jobs too
    return json_response({"items": [_body(p) for p in await _pauses().listed()]})


@bp.route(route="v1/pauses", methods=["POST"])
@endpoint
async def pause(req: func.HttpRequest) -> func.HttpResponse:
    caller = await caller_of(req)
    _operator(caller)
    body = parse_model(PauseRequest, json_body(req))
    kind, value = body.target()
    _checked(cast(Kind, kind), value)
    made, new = await _pauses().pause(
        cast(Kind, kind), value, by=caller.key_id or caller.tenant_id, reason=body.reason
    )
    return json_response(_body(made), 201 if new else 200, {"Location": _url(made)})


@bp.route(route="v1/pauses/{kind}/{value}", methods=["DELETE"])
@endpoint
async def resume(req: func.HttpRequest) -> func.HttpResponse:
    _operator(await caller_of(req))
    kind, value = req.route_params["kind"], req.route_params["value"]
    if kind not in KINDS:
        raise NotFound(f"no pause kind {kind!r}: job_type or priority")
    try:  # a path naming no job type or priority names no pause
        _pauses().check(cast(Kind, kind), value)
    except ValueError as exc:
        raise NotFound(str(exc)) from None
    ended = await _pauses().resume(cast(Kind, kind), value)
    if ended is None:
        raise NotFound(f"{kind} {value!r} is not paused")
    return json_response({**_body(ended), "resumed": True})
