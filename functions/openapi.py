"""The OpenAPI 3.1 document of the HTTP API, built from the same pydantic models that
validate requests, so it cannot drift from what the functions accept."""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel, Field
from pydantic.json_schema import JsonSchemaMode

from functions import openapi_pauses, openapi_schedules
from functions.request_models import (
    BatchSubmitRequest,
    BulkDeadLetterRequest,
    RequeueRequest,
    RotateSecretRequest,
    SubmitRequest,
)
from shared import __version__
from shared.constants import MAX_LONG_POLL_SECONDS, MAX_PAGE_SIZE, PROBLEM_JSON
from shared.job_logs import LogLine
from shared.jobs import Job, JobState
from shared.jobtypes import JobTypeRegistry
from shared.paging import CURSOR_PATTERN
from shared.submissions import IDEMPOTENCY_KEY

REF = "#/components/schemas/{model}"


class Problem(BaseModel):
    """An error (RFC 9457); ``errors`` names each offending field."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, str]] | None = None


class JobPage(BaseModel):
    items: list[Job]
    next_cursor: str | None = Field(description="Pass back as cursor= for the next page.")


class JobLogs(BaseModel):
    """A job's last log lines (``ctx.log``), oldest first, and its state: a follower
    stops once the state is terminal."""

    job_id: str
    state: JobState
    lines: list[LogLine] = Field(description="At most 100 lines of at most 500 characters.")


class BulkResult(BaseModel):
    """What a bulk requeue or purge did: ``requeued`` or ``purged`` holds the count."""

    job_ids: list[str]
    more: bool = Field(description="More jobs match; repeat the request for them.")


class WebhookSecret(BaseModel):
    """The tenant's webhook signing secret (docs/api.md, "Completion webhooks")."""

    secret: str = Field(description="whsec_ and base64: the HMAC key of webhook-signature.")
    previous_signs_until: str | None = Field(
        description="While set, webhooks carry a second signature, by the replaced secret."
    )


def _webhook_paths(body: Any) -> dict[str, Any]:
    no_body = {"required": False, "content": body("RotateSecretRequest")["content"]}
    return {
        "/api/v1/webhooks/secret": {
            "get": {
                "operationId": "get_webhook_secret",
                "responses": {"200": _json("WebhookSecret"), **_problems(401, 503)},
            }
        },
        "/api/v1/webhooks/secret:rotate": {
            "post": {
                "operationId": "rotate_webhook_secret",
                "requestBody": no_body,
                "responses": {
                    "200": _json("WebhookSecret", "the new secret"),
                    **_problems(400, 401, 415, 422, 503, 507),
                },
            }
        },
    }


def _add(
    out: dict[str, Any],
    name: str,
    model: type[BaseModel],
    mode: JsonSchemaMode = "serialization",
) -> dict[str, str]:
    schema = model.model_json_schema(ref_template=REF, mode=mode)
    out.update(schema.pop("$defs", {}))
    out[name] = schema
    return {"$ref": REF.format(model=name)}


def _submit_variant(base: dict[str, Any], name: str, payload: dict[str, str]) -> dict[str, Any]:
    """SubmitRequest's schema for one job type: its name, and its payload model."""
    variant = copy.deepcopy(base)
    variant.pop("title", None)
    variant.pop("description", None)
    variant["properties"]["job_type"] = {"const": name}
    variant["properties"]["payload"] = payload
    variant["required"] = ["job_type", "payload"]
    return variant


def _schemas(registry: JobTypeRegistry, max_timeout: float) -> dict[str, Any]:
    """Response models, and a submission schema per job type (its payload model)."""
    out: dict[str, Any] = {}
    for model in (Job, JobPage, JobLogs, Problem, RequeueRequest, BulkDeadLetterRequest):
        _add(out, model.__name__, model)
    _add(out, "WebhookSecret", WebhookSecret)
    _add(out, "RotateSecretRequest", RotateSecretRequest, mode="validation")
    _add(out, "BulkResult", BulkResult)
    openapi_schedules.add_schemas(_add, out)
    openapi_pauses.add_schemas(_add, out, registry.names())
    del out["Job"]["properties"]["logs"]  # not in the job's body: GET .../logs has them
    # Filters name a known job type (anything else is a 422 naming the field).
    out["BulkDeadLetterRequest"]["properties"]["job_type"] = {
        "anyOf": [{"type": "string", "enum": registry.names()}, {"type": "null"}],
        "default": None,
    }
    _add(out, "BatchSubmitRequest", BatchSubmitRequest, mode="validation")
    _add(out, "SubmitRequest", SubmitRequest, mode="validation")
    base = out.pop("SubmitRequest")
    # The deployment's DTQ_JOB_TIMEOUT_SECONDS bounds an attempt's time limit.
    for branch in base["properties"]["timeout_seconds"]["anyOf"]:
        if branch.get("type") == "number":
            branch["maximum"] = max_timeout
    variants = [
        _submit_variant(
            base,
            job_type.name,
            _add(out, job_type.payload_model.__name__, job_type.payload_model),
        )
        for job_type in registry
    ]
    out["SubmitRequest"] = {"description": base.get("description", ""), "oneOf": variants}
    return out


def _problems(*codes: int) -> dict[str, Any]:
    return {
        str(code): {
            "description": "problem",
            "content": {PROBLEM_JSON: {"schema": {"$ref": REF.format(model="Problem")}}},
        }
        for code in codes
    }


def _json(model: str, description: str = "OK") -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": REF.format(model=model)}}},
    }


def _any_json(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {}}}}


#: Job ids are ULIDs; any other id is simply not found (404). An id that is blank once
#: decoded (``%0D``) turns the path into its collection's, which answers 405.
JOB_ID = {
    "name": "job_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": CURSOR_PATTERN},
}
LIMIT = {
    "name": "limit",
    "in": "query",
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
}
CURSOR = {"name": "cursor", "in": "query", "schema": {"type": "string", "pattern": CURSOR_PATTERN}}


def _job_type_param(registry: JobTypeRegistry) -> dict[str, Any]:
    return {
        "name": "job_type",
        "in": "query",
        "schema": {"type": "string", "enum": registry.names()},
    }


#: The GETs the UI polls answer 304 to an If-None-Match holding their current ETag.
NOT_MODIFIED = {"304": {"description": "not modified (If-None-Match)"}}
IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "the ETag of the caller's copy: 304 while it is current",
    "schema": {"type": "string"},
}
PREFER_WAIT = {
    "name": "Prefer",
    "in": "header",
    "required": False,
    "description": (
        "wait=N (RFC 7240), with If-None-Match: a long-poll, answered as soon as the job"
        f" changes, or 304 after N seconds (at most {MAX_LONG_POLL_SECONDS})"
    ),
    "schema": {"type": "string", "pattern": r"^wait=[0-9]{1,3}$"},
}


def _dlq_paths(registry: JobTypeRegistry, body: Any) -> dict[str, Any]:
    optional_body = lambda model: {**body(model), "required": False}  # noqa: E731
    return {
        "/api/v1/dlq": {
            "get": {
                "operationId": "list_dead_letters",
                "parameters": [_job_type_param(registry), LIMIT, CURSOR],
                "responses": {"200": _json("JobPage"), **NOT_MODIFIED, **_problems(422, 503)},
            }
        },
        "/api/v1/dlq/requeue": {
            "post": {
                "operationId": "requeue_dead_letters",
                "requestBody": optional_body("BulkDeadLetterRequest"),
                "responses": {"200": _json("BulkResult"), **_problems(400, 415, 422, 503, 507)},
            }
        },
        "/api/v1/dlq/purge": {
            "post": {
                "operationId": "purge_dead_letters",
                "requestBody": optional_body("BulkDeadLetterRequest"),
                "responses": {"200": _json("BulkResult"), **_problems(400, 415, 422, 503, 507)},
            }
        },
        "/api/v1/dlq/messages": {
            "get": {
                "operationId": "list_dead_lettered_messages",
                "parameters": [LIMIT],
                "responses": {
                    "200": _any_json("the queue's dead-lettered messages, with reasons"),
                    **_problems(422, 503),
                },
            }
        },
        "/api/v1/dlq/{job_id}/requeue": {
            "post": {
                "operationId": "requeue_dead_letter",
                "parameters": [JOB_ID],
                "requestBody": optional_body("RequeueRequest"),
                "responses": {
                    "202": _json("Job", "requeued"),
                    **_problems(400, 404, 405, 409, 415, 422, 503, 507),
                },
            }
        },
        "/api/v1/dlq/{job_id}": {
            "delete": {
                "operationId": "purge_dead_letter",
                "parameters": [JOB_ID],
                "responses": {
                    "204": {"description": "purged"},
                    **_problems(404, 405, 409, 503, 507),
                },
            }
        },
    }


def document(registry: JobTypeRegistry, max_timeout: float = 540.0) -> dict[str, Any]:
    """The document; ``max_timeout`` is the deployment's DTQ_JOB_TIMEOUT_SECONDS."""
    body = lambda model: {  # noqa: E731
        "required": True,
        "content": {"application/json": {"schema": {"$ref": REF.format(model=model)}}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "dtq", "version": __version__},
        "paths": {
            "/api/v1/jobs": {
                "post": {
                    "operationId": "submit_job",
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "description": "Makes the submit safe to repeat (docs/api.md).",
                            "schema": {
                                "type": "string",
                                "pattern": f"^{IDEMPOTENCY_KEY.pattern}$",
                            },
                        }
                    ],
                    "requestBody": body("SubmitRequest"),
                    "responses": {
                        "202": _json("Job", "accepted"),
                        "200": _json("Job", "a repeat (same Idempotency-Key and body)"),
                        **_problems(400, 409, 413, 415, 422, 503, 507),
                    },
                },
                "get": {
                    "operationId": "list_jobs",
                    "parameters": [
                        {
                            "name": "state",
                            "in": "query",
                            "schema": {"type": "string", "enum": [s.value for s in JobState]},
                        },
                        _job_type_param(registry),
                        LIMIT,
                        CURSOR,
                    ],
                    "responses": {"200": _json("JobPage"), **NOT_MODIFIED, **_problems(422, 503)},
                },
            },
            "/api/v1/jobs:batch": {
                "post": {
                    "operationId": "submit_jobs",
                    "requestBody": body("BatchSubmitRequest"),
                    "responses": {
                        "200": _any_json(
                            "per item, in order: {index, status: 202, job} or {index, status,"
                            " title, detail, errors}; with the accepted and rejected counts"
                        ),
                        **_problems(400, 413, 415, 422, 503, 507),
                    },
                }
            },
            "/api/v1/jobs/{job_id}": {
                "get": {
                    "operationId": "get_job",
                    "parameters": [JOB_ID, IF_NONE_MATCH, PREFER_WAIT],
                    "responses": {
                        "200": _json("Job"),
                        **NOT_MODIFIED,
                        **_problems(404, 405, 503),
                    },
                },
                "delete": {
                    "operationId": "cancel_job",
                    "parameters": [JOB_ID],
                    "responses": {
                        "200": _json("Job", "cancelled"),
                        "202": _json("Job", "running: asked to stop (cancel_requested_at)"),
                        **_problems(404, 405, 409, 503, 507),
                    },
                },
            },
            "/api/v1/jobs/{job_id}/logs": {
                "get": {
                    "operationId": "get_job_logs",
                    "parameters": [JOB_ID, IF_NONE_MATCH, PREFER_WAIT],
                    "responses": {
                        "200": _json("JobLogs"),
                        **NOT_MODIFIED,
                        **_problems(404, 405, 503),
                    },
                }
            },
            "/api/v1/jobs/{job_id}/result": {
                "get": {
                    "operationId": "get_job_result",
                    "parameters": [JOB_ID],
                    "responses": {"200": _any_json("the result"), **_problems(404, 405, 503)},
                }
            },
            "/api/v1/job-types": {
                "get": {
                    "operationId": "list_job_types",
                    "responses": {"200": _any_json("job types with payload JSON Schemas")},
                }
            },
            **_dlq_paths(registry, body),
            **_webhook_paths(body),
            **openapi_schedules.paths(body, _json, _problems),
            **openapi_pauses.paths(body, _json, _problems, registry.names()),
            "/api/v1/stats": {
                "get": {
                    "operationId": "stats",
                    "responses": {
                        "200": _any_json(
                            "the caller's jobs by state and type, completed per minute over the"
                            " last hour and its dead-letter queue; for the operator (scope"
                            " 'operator') also queue depth per priority, the queues'"
                            " dead-lettered messages and worker processes (local host); a"
                            " keyed tenant gets scope 'tenant' and none of the shared figures;"
                            " everyone gets the pauses in force (docs/pauses.md)"
                        ),
                        **NOT_MODIFIED,
                        **_problems(503),
                    },
                }
            },
            "/api/v1/healthz": {
                "get": {
                    "operationId": "health",
                    "responses": {
                        "200": _any_json("all backends reachable"),
                        "503": _any_json("a backend is unreachable"),
                    },
                }
            },
        },
        "components": {
            "schemas": _schemas(registry, max_timeout),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "dtq_... key"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
        # Every operation on jobs acts for the caller's tenant: an API key, or nothing
        # where the deployment allows anonymous requests (the loopback local host).
        "security": [{"bearer": []}, {"apiKey": []}, {}],
    }
