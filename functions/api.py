"""The HTTP API under /api/v1: thin triggers over the submissions, queries, stats and
health services."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import azure.functions as func

from functions import openapi
from functions.decoding import int_param, json_body, parse_model, prefer_wait
from functions.endpoint import endpoint
from functions.problems import problem_body
from functions.request_models import BatchSubmitRequest, SubmitRequest
from functions.responses import conditional_json, etag_matches, json_response, not_modified
from functions.runtime import runtime
from shared.access import Caller
from shared.constants import DEFAULT_PAGE_SIZE, MAX_LONG_POLL_SECONDS, POLL_AFTER_SECONDS
from shared.errors import ValidationFailed
from shared.jobs import Job, iso_utc
from shared.ports import Page
from shared.submissions import Submission

bp = func.Blueprint()


async def tenant_of(req: func.HttpRequest) -> str:
    """The caller's tenant, from its API key (or client principal); Unauthorized if none."""
    return await runtime().access.tenant_of(req.headers)


async def caller_of(req: func.HttpRequest) -> Caller:
    """Who the caller is: its tenant, and whether it is the operator (docs/tenants.md)."""
    return await runtime().access.caller(req.headers)


def _job_url(job_id: str) -> str:
    return f"/api/v1/jobs/{job_id}"


def job_body(job: Job) -> dict[str, object]:
    return {
        **job.to_public(),
        "links": {"self": _job_url(job.job_id), "result": f"{_job_url(job.job_id)}/result"},
    }


def page_body(page: Page[Job]) -> dict[str, object]:
    """A page of jobs as the list endpoints answer it."""
    return {"items": [job_body(j) for j in page.items], "next_cursor": page.next_cursor}


def _etag(job: Job) -> str:
    return f'"{job.job_id}.{job.etag}"'


def logs_body(job: Job) -> dict[str, object]:
    """The job's log lines (oldest first) and its state, as GET .../logs answers."""
    lines = [line.model_dump(mode="json") for line in job.logs]
    return {"job_id": job.job_id, "state": job.state.value, "lines": lines}


def _logs_etag(job: Job) -> str:
    """A strong ETag of the log and the state only: other changes of the job keep it."""
    text = json.dumps(logs_body(job), separators=(",", ":"))
    return f'"{hashlib.sha256(text.encode()).hexdigest()[:32]}"'


async def _read(req: func.HttpRequest, etag_of: Callable[[Job], str]) -> tuple[Job, dict[str, str]]:
    """The job the request names, and the headers of its answer (ETag as ``etag_of``
    tags it). With ``If-None-Match`` and ``Prefer: wait=N``, a long-poll: read as soon
    as the tag changes, or after N seconds (at most MAX_LONG_POLL_SECONDS; docs/api.md)."""
    tenant, job_id = await tenant_of(req), req.route_params["job_id"]
    wait = prefer_wait(req, MAX_LONG_POLL_SECONDS)
    if req.headers.get("If-None-Match", "*").strip() == "*":
        wait = None  # a long-poll waits for a change of the copy the caller names
    headers = {"Cache-Control": "no-cache"}
    if wait is None:
        job = await runtime().queries.get(tenant, job_id)
    else:
        job = await runtime().queries.changed(
            tenant, job_id, lambda j: etag_matches(req, etag_of(j)), wait
        )
        headers["Preference-Applied"] = f"wait={wait:g}"
    headers["ETag"] = etag_of(job)
    return job, headers


@bp.route(route="v1/jobs", methods=["POST"])
@endpoint
async def submit_job(req: func.HttpRequest) -> func.HttpResponse:
    tenant = await tenant_of(req)
    body = parse_model(SubmitRequest, json_body(req))
    key = req.headers.get("Idempotency-Key")
    headers = {"Retry-After": str(POLL_AFTER_SECONDS)}
    if key is None:
        job, created = await runtime().submissions.submit(tenant, body.submission()), True
    else:
        job, created = await runtime().submissions.submit_once(tenant, body.submission(), key)
        headers["Idempotent-Replayed"] = "false" if created else "true"
    headers.update({"Location": _job_url(job.job_id), "ETag": _etag(job)})
    # 202: accepted now; 200: a repeat of an earlier request, answered with its job.
    return json_response(job_body(job), 202 if created else 200, headers)


@bp.route(route="v1/jobs:batch", methods=["POST"])
@endpoint
async def submit_jobs(req: func.HttpRequest) -> func.HttpResponse:
    """Up to 100 jobs, each accepted or refused on its own: 200 with one result per item
    (``status`` 202 and the job, or the item's problem), in order."""
    tenant = await tenant_of(req)
    body = parse_model(BatchSubmitRequest, json_body(req))
    submissions: list[Submission | ValidationFailed] = []
    for item in body.jobs:
        try:
            submissions.append(parse_model(SubmitRequest, item).submission())
        except ValidationFailed as exc:
            submissions.append(exc)
    outcomes = await runtime().submissions.submit_each(tenant, submissions)
    items: list[dict[str, object]] = []
    for index, outcome in enumerate(outcomes):
        if isinstance(outcome, Job):
            items.append({"index": index, "status": 202, "job": job_body(outcome)})
        else:
            items.append({"index": index, **problem_body(outcome)})
    accepted = sum(1 for o in outcomes if isinstance(o, Job))
    return json_response(
        {"accepted": accepted, "rejected": len(outcomes) - accepted, "items": items},
        200,
        {"Retry-After": str(POLL_AFTER_SECONDS)},
    )


@bp.route(route="v1/jobs", methods=["GET"])
@endpoint
async def list_jobs(req: func.HttpRequest) -> func.HttpResponse:
    page = await runtime().queries.list(
        await tenant_of(req),
        state=req.params.get("state") or None,
        job_type=req.params.get("job_type") or None,
        limit=int_param(req, "limit", DEFAULT_PAGE_SIZE),
        cursor=req.params.get("cursor") or None,
    )
    return conditional_json(req, page_body(page))


@bp.route(route="v1/jobs/{job_id}", methods=["GET"])
@endpoint
async def get_job(req: func.HttpRequest) -> func.HttpResponse:
    """The job. With ``If-None-Match`` its current ETag and ``Prefer: wait=N``, a
    long-poll: the answer comes as soon as the job changes, or 304 after N seconds
    (at most MAX_LONG_POLL_SECONDS; docs/api.md)."""
    job, headers = await _read(req, _etag)
    if etag_matches(req, headers["ETag"]):
        return not_modified(headers)
    if not job.terminal:
        headers["Retry-After"] = str(POLL_AFTER_SECONDS)
    return json_response(job_body(job), 200, headers)


@bp.route(route="v1/jobs/{job_id}/result", methods=["GET"])
@endpoint
async def get_job_result(req: func.HttpRequest) -> func.HttpResponse:
    stored = await runtime().queries.result(await tenant_of(req), req.route_params["job_id"])
    return json_response(
        {
            "job_id": stored.job_id,
            "result": stored.result,
            "created_at": iso_utc(stored.created_at),
        }
    )


@bp.route(route="v1/jobs/{job_id}/logs", methods=["GET"])
@endpoint
async def get_job_logs(req: func.HttpRequest) -> func.HttpResponse:
    """The job's last log lines (``ctx.log``) and its state, with a strong ETag that
    changes only when they do; a long-poll with ``If-None-Match`` and ``Prefer: wait=N``
    as GET /jobs/{id} (docs/api.md)."""
    job, headers = await _read(req, _logs_etag)
    if etag_matches(req, headers["ETag"]):
        return not_modified(headers)
    return json_response(logs_body(job), 200, headers)


@bp.route(route="v1/jobs/{job_id}", methods=["DELETE"])
@endpoint
async def cancel_job(req: func.HttpRequest) -> func.HttpResponse:
    job = await runtime().submissions.cancel(await tenant_of(req), req.route_params["job_id"])
    if job.terminal:
        return json_response(job_body(job))
    # Running: asked to stop; it ends "cancelled" at its next progress report or check.
    return json_response(job_body(job), 202, {"Retry-After": str(POLL_AFTER_SECONDS)})


@bp.route(route="v1/job-types", methods=["GET"])
@endpoint
async def list_job_types(req: func.HttpRequest) -> func.HttpResponse:
    return json_response({"items": runtime().queries.job_types()})


@bp.route(route="v1/openapi.json", methods=["GET"])
@endpoint
async def openapi_document(req: func.HttpRequest) -> func.HttpResponse:
    rt = runtime()
    return json_response(openapi.document(rt.registry, rt.settings.job_timeout_seconds))


@bp.route(route="v1/stats", methods=["GET"])
@endpoint
async def stats(req: func.HttpRequest) -> func.HttpResponse:
    rt = runtime()
    # A tenant gets its own jobs; the shared queues and workers only the operator.
    caller = await caller_of(req)
    body = await rt.stats.collect(caller.tenant_id, rt.workers, operator=caller.operator)
    # "at" is the time of asking; the ETag changes only when the figures do.
    return conditional_json(req, body, basis={k: v for k, v in body.items() if k != "at"})


@bp.route(route="v1/healthz", methods=["GET"])
@endpoint
async def health(req: func.HttpRequest) -> func.HttpResponse:
    report = await runtime().health.check()
    return json_response(report, 200 if report["ok"] else 503)
