"""Completion webhooks (shared/webhooks/): the queue trigger that makes one delivery
attempt per message of the webhooks queue, the timer that re-sends deliveries a crash
may have lost, and the tenant's signing secret (read, rotate). Both hosts run them: the
local host listens to the queue its trigger names, as it does the job queues."""

from __future__ import annotations

import logging

import azure.functions as func

from functions.api import tenant_of
from functions.decoding import json_body, parse_model
from functions.endpoint import endpoint
from functions.request_models import RotateSecretRequest
from functions.responses import json_response
from functions.runtime import runtime
from shared.jobs import iso_utc, utcnow
from shared.ports import WebhookSecrets
from shared.webhooks.service import Webhooks

log = logging.getLogger(__name__)

bp = func.Blueprint()


def _webhooks() -> Webhooks:
    webhooks = runtime().webhooks
    assert webhooks is not None, "the runtime builds the webhooks service"
    return webhooks


def secret_body(secrets: WebhookSecrets) -> dict[str, object]:
    until = secrets.previous_until
    signing = secrets.previous and until and until > utcnow()
    return {
        "secret": secrets.current,
        # Whether the replaced secret still signs too, and until when (not the secret).
        "previous_signs_until": iso_utc(until) if signing and until else None,
    }


#: A secret is never cached by a browser or a proxy.
NO_STORE = {"Cache-Control": "no-store"}


@bp.service_bus_queue_trigger(
    arg_name="message", queue_name="%DTQ_WEBHOOKS_QUEUE%", connection="ServiceBusConnection"
)
async def deliver_webhook(message: func.ServiceBusMessage) -> None:
    """One attempt at delivering a job's end to its callback URL (the next attempt, if
    any, is a message of its own, scheduled after the backoff)."""
    await _webhooks().deliver(message.get_body())


@bp.timer_trigger(
    schedule="%DTQ_WEBHOOK_SWEEP_SCHEDULE%", arg_name="timer", run_on_startup=True, use_monitor=True
)
async def sweep_webhooks(timer: func.TimerRequest) -> None:
    sent = await _webhooks().sweep()
    if sent:
        log.warning("webhooks: re-sent %d deliveries whose message was lost", sent)


@bp.route(route="v1/webhooks/secret", methods=["GET"])
@endpoint
async def get_webhook_secret(req: func.HttpRequest) -> func.HttpResponse:
    """The caller's tenant's signing secret (made on first read); never another's."""
    secrets = await _webhooks().secrets(await tenant_of(req))
    return json_response(secret_body(secrets), headers=NO_STORE)


@bp.route(route="v1/webhooks/secret:rotate", methods=["POST"])
@endpoint
async def rotate_webhook_secret(req: func.HttpRequest) -> func.HttpResponse:
    """A new signing secret for the caller's tenant (docs/api.md, docs/security.md)."""
    tenant = await tenant_of(req)
    body = parse_model(RotateSecretRequest, json_body(req, optional=True))
    secrets = await _webhooks().rotate(tenant, body.keep_previous_seconds)
    return json_response(secret_body(secrets), headers=NO_STORE)
