"""Pauses of processing per job type and per priority (shared/pauses.py, docs/pauses.md):
the /api/v1/pauses resources. A pause holds every tenant's jobs (the operator's to set or
clear) or one tenant's (that tenant's, or the operator's). Each caller reads the pauses
that hold its jobs: every tenant's, then its own."""

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
from shared.access import TENANT_ID, Caller
from shared.errors import FieldError, NotFound, ValidationFailed
from shared.pauses import Kind, Pause, Pauses

bp = func.Blueprint()

KINDS = ("job_type", "priority")


def _pauses() -> Pauses:
    pauses = runtime().pauses
    assert pauses is not None, "the runtime builds the pauses"
    return pauses


def _url(pause: Pause) -> str:
    scoped = f"?tenant={pause.tenant}" if pause.tenant else ""
    return f"/api/v1/pauses/{pause.kind}/{pause.value}{scoped}"


def _body(pause: Pause) -> dict[str, object]:
    return {**pause.to_public(), "links": {"self": _url(pause)}}


def _scope(caller: Caller, asked: str | None) -> str:
    """The tenant whose jobs a pause holds ('' for every tenant's): a tenant's key acts
    on its own; the operator on every tenant's, or on the one it names."""
    if caller.operator:
        return asked or ""
    if asked not in (None, caller.tenant_id):
        raise HttpProblem(
            403,
            "Forbidden",
            "a tenant's key pauses and resumes its own jobs only; every tenant's, or"
            " another tenant's, needs an operator key (an API key whose id"
            " DTQ_OPERATOR_KEY_IDS lists)",
        )
    return caller.tenant_id


def _asked_tenant(req: func.HttpRequest) -> str | None:
    asked = req.params.get("tenant")
    if asked is not None and not TENANT_ID.fullmatch(asked):
        raise ValidationFailed(
            "tenant is not a tenant id", [FieldError("tenant", "1 to 64 of A-Za-z0-9_.@-")]
        )
    return asked


def _checked(kind: Kind, value: str) -> None:
    try:
        _pauses().check(kind, value)
    except ValueError as exc:
        raise ValidationFailed(str(exc), [FieldError(kind, str(exc))]) from None


@bp.route(route="v1/pauses", methods=["GET"])
@endpoint
async def list_pauses(req: func.HttpRequest) -> func.HttpResponse:
    caller = await caller_of(req)
    scope = _scope(caller, _asked_tenant(req)) or caller.tenant_id
    return json_response({"items": [_body(p) for p in await _pauses().listed(scope)]})


@bp.route(route="v1/pauses", methods=["POST"])
@endpoint
async def pause(req: func.HttpRequest) -> func.HttpResponse:
    caller = await caller_of(req)
    body = parse_model(PauseRequest, json_body(req))
    scope = _scope(caller, body.tenant)
    kind, value = body.target()
    _checked(cast(Kind, kind), value)
    by = caller.key_id or caller.tenant_id
    made, new = await _pauses().pause(
        cast(Kind, kind), value, tenant=scope, by=by, reason=body.reason
    )
    return json_response(_body(made), 201 if new else 200, {"Location": _url(made)})


@bp.route(route="v1/pauses/{kind}/{value}", methods=["DELETE"])
@endpoint
async def resume(req: func.HttpRequest) -> func.HttpResponse:
    scope = _scope(await caller_of(req), _asked_tenant(req))
    kind, value = req.route_params["kind"], req.route_params["value"]
    if kind not in KINDS:
        raise NotFound(f"no pause kind {kind!r}: job_type or priority")
    try:  # a path naming no job type or priority names no pause
        _pauses().check(cast(Kind, kind), value)
    except ValueError as exc:
        raise NotFound(str(exc)) from None
    ended = await _pauses().resume(cast(Kind, kind), value, scope)
    if ended is None:
        whose = f" for tenant {scope!r}" if scope else " for every tenant"
        raise NotFound(f"{kind} {value!r} is not paused{whose}")
    return json_response({**_body(ended), "resumed": True})
