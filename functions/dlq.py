"""The dead-letter queue under /api/v1/dlq: thin triggers over DeadLetters.

A job that failed for good (a permanent error, or out of attempts) is listed here with
its reason and last error until it is requeued or purged. ``/dlq/messages`` shows the
queue's own dead-lettered messages (undecodable ones have no job to list).
"""

from __future__ import annotations

import azure.functions as func

from functions.api import job_body, page_body, tenant_of
from functions.decoding import int_param, json_body, parse_model
from functions.endpoint import endpoint
from functions.request_models import BulkDeadLetterRequest, RequeueRequest
from functions.responses import conditional_json, json_response
from functions.runtime import runtime
from shared.constants import DEFAULT_PAGE_SIZE, POLL_AFTER_SECONDS, PROP_JOB_ID, PROP_TENANT_ID
from shared.jobs import Job, iso_utc

bp = func.Blueprint()

#: Longest message body excerpt shown for a dead-lettered message.
BODY_EXCERPT_CHARS = 2000


def _bulk_body(jobs: list[Job], more: bool, verb: str) -> dict[str, object]:
    return {verb: len(jobs), "job_ids": [j.job_id for j in jobs], "more": more}


# Literal routes first: the local host matches routes in registration order, and the
# Functions host prefers literal segments over parameters anyway.


@bp.route(route="v1/dlq", methods=["GET"])
@endpoint
async def list_dead_letters(req: func.HttpRequest) -> func.HttpResponse:
    page = await runtime().dead_letters.list(
        await tenant_of(req),
        job_type=req.params.get("job_type") or None,
        limit=int_param(req, "limit", DEFAULT_PAGE_SIZE),
        cursor=req.params.get("cursor") or None,
    )
    return conditional_json(req, page_body(page))


@bp.route(route="v1/dlq/requeue", methods=["POST"])
@endpoint
async def requeue_dead_letters(req: func.HttpRequest) -> func.HttpResponse:
    tenant = await tenant_of(req)
    body = parse_model(BulkDeadLetterRequest, json_body(req, optional=True))
    jobs, more = await runtime().dead_letters.requeue_matching(
        tenant,
        job_type=body.job_type,
        limit=body.limit,
        max_attempts=body.max_attempts,
    )
    return json_response(_bulk_body(jobs, more, "requeued"))


@bp.route(route="v1/dlq/purge", methods=["POST"])
@endpoint
async def purge_dead_letters(req: func.HttpRequest) -> func.HttpResponse:
    tenant = await tenant_of(req)
    body = parse_model(BulkDeadLetterRequest, json_body(req, optional=True))
    jobs, more = await runtime().dead_letters.purge_matching(
        tenant, job_type=body.job_type, limit=body.limit
    )
    return json_response(_bulk_body(jobs, more, "purged"))


@bp.route(route="v1/dlq/messages", methods=["GET"])
@endpoint
async def list_dead_lettered_messages(req: func.HttpRequest) -> func.HttpResponse:
    rt = runtime()
    tenant = await tenant_of(req)
    limit = max(1, min(int_param(req, "limit", DEFAULT_PAGE_SIZE), 250))
    peeked = [(name, m) for name, q in rt.queues.items() for m in await q.peek_dead_letters(limit)]
    # A tenant sees its own messages; messages that name no tenant (undecodable ones)
    # only the operator's default tenant sees.
    messages = [
        (queue_name, m)
        for queue_name, m in peeked
        if m.application_properties.get(PROP_TENANT_ID, rt.settings.default_tenant) == tenant
    ]
    return json_response(
        {
            "items": [
                {
                    "message_id": m.message_id,
                    "reason": m.dead_letter_reason,
                    "description": m.dead_letter_description,
                    "delivery_count": m.delivery_count,
                    "enqueued_time": iso_utc(m.enqueued_time),
                    "job_id": m.application_properties.get(PROP_JOB_ID),
                    "queue": queue_name,
                    "body": m.body.decode(errors="replace")[:BODY_EXCERPT_CHARS],
                }
                for queue_name, m in messages
            ]
        }
    )


@bp.route(route="v1/dlq/{job_id}/requeue", methods=["POST"])
@endpoint
async def requeue_dead_letter(req: func.HttpRequest) -> func.HttpResponse:
    tenant = await tenant_of(req)
    body = parse_model(RequeueRequest, json_body(req, optional=True))
    job = await runtime().dead_letters.requeue(
        tenant, req.route_params["job_id"], max_attempts=body.max_attempts
    )
    return json_response(job_body(job), 202, {"Retry-After": str(POLL_AFTER_SECONDS)})


@bp.route(route="v1/dlq/{job_id}", methods=["DELETE"])
@endpoint
async def purge_dead_letter(req: func.HttpRequest) -> func.HttpResponse:
    await runtime().dead_letters.purge(await tenant_of(req), req.route_params["job_id"])
    return func.HttpResponse(status_code=204)
