"""Live updates through Azure SignalR Service, by the Functions SignalR bindings
(shared/push.py explains the flow). The local host runs them too, against its own
stand-in for the service (dtq/host/signalr.py); only a local host configured for Azure
SignalR Service leaves them out (``POST /api/negotiate`` is 204 there) and the web UI
polls."""

from __future__ import annotations

import json
import re
import typing

import azure.functions as func

from functions.api import tenant_of
from functions.endpoint import endpoint
from functions.problems import HttpProblem
from functions.responses import json_response
from functions.runtime import runtime
from shared.push import (
    PUSH_ID_HEADER,
    group_action,
    job_group,
    signalr_messages,
    tenant_group,
)

bp = func.Blueprint()

SIGNALR = {
    "hubName": "%DTQ_SIGNALR_HUB%",
    "connectionStringSetting": "AzureSignalRConnectionString",
}
#: The user id a browser makes up for its connection: random, so nobody can guess it.
PUSH_ID = re.compile(r"^[A-Za-z0-9-]{16,64}$")


@bp.route(route="negotiate", methods=["POST"])
@bp.generic_input_binding(
    arg_name="connection", type="signalRConnectionInfo", userId="{headers.x-dtq-push-id}", **SIGNALR
)
@bp.generic_output_binding(arg_name="groups", type="signalR", **SIGNALR)
@endpoint
async def negotiate(
    req: func.HttpRequest, connection: str, groups: func.Out[str]
) -> func.HttpResponse:
    """A SignalR connection for the caller's made-up user id (header ``x-dtq-push-id``),
    added to its tenant's group, or with ``?job_id=`` to that one job's group."""
    tenant = await tenant_of(req)
    user_id = req.headers.get(PUSH_ID_HEADER, "")
    if not PUSH_ID.fullmatch(user_id):
        raise HttpProblem(
            400,
            "Bad request",
            f"send a random id of 16 to 64 letters, digits or '-' in {PUSH_ID_HEADER}",
        )
    job_id = req.params.get("job_id")
    if job_id:
        await runtime().queries.get(tenant, job_id)  # 404 unless it is the caller's job
    group = job_group(job_id) if job_id else tenant_group(tenant)
    groups.set(json.dumps([group_action(user_id, group)]))
    info = json.loads(connection)
    return json_response({"url": info["url"], "accessToken": info["accessToken"], "group": group})


@bp.service_bus_queue_trigger(
    arg_name="events",
    queue_name="%DTQ_EVENTS_QUEUE%",
    connection="ServiceBusConnection",
    cardinality="many",
)
@bp.generic_output_binding(arg_name="signalr", type="signalR", **SIGNALR)
def push_job_events(
    # Microsoft's Python worker accepts typing.List here and refuses list[...] (PEP 585):
    # the whole app would index nothing. UP006 would rewrite it; tests/worker_host guards it.
    events: typing.List[func.ServiceBusMessage],  # noqa: UP006
    signalr: func.Out[str],
) -> None:
    """A batch of job changes out as SignalR messages: each job's newest state, to its
    job group and its tenant group."""
    signalr.set(json.dumps(signalr_messages(m.get_body() for m in events)))
