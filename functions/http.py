"""Decoding requests and encoding responses for the HTTP triggers.

All errors leave as ``application/problem+json`` (RFC 9457) with an ``errors``
list naming each offending field.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import azure.functions as func
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from shared.constants import (
    MAX_ATTEMPTS,
    MAX_BATCH,
    MAX_BULK,
    MAX_REQUEST_BODY_BYTES,
    MAX_SCHEDULE_AHEAD,
    PROBLEM_JSON,
)
from shared.errors import (
    BackendUnavailable,
    Conflict,
    DtqError,
    FieldError,
    InsufficientStorage,
    NotFound,
    PreconditionFailed,
    RateLimited,
    TooLarge,
    Unauthorized,
    ValidationFailed,
)
from shared.jobs import Priority
from shared.submissions import Submission
from shared.telemetry import context_from, tracer

log = logging.getLogger(__name__)

MAX_DELAY_SECONDS = MAX_SCHEDULE_AHEAD.total_seconds()

#: An HTTP trigger: the request, then any other bindings by name (e.g. SignalR's).
HttpHandler = Callable[..., Awaitable[func.HttpResponse]]


class HttpProblem(DtqError):
    """An error with an explicit HTTP status (400 malformed JSON, 413 too large)."""

    def __init__(
        self, status: int, title: str, detail: str, errors: list[FieldError] | None = None
    ):
        super().__init__(detail)
        self.status, self.title, self.detail, self.errors = status, title, detail, errors or []


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        headers=headers or {},
        mimetype="application/json",
    )


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> func.HttpResponse:
    body: dict[str, Any] = {
        "type": f"urn:dtq:problem:{title.lower().replace(' ', '-')}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = [{"field": e.field, "message": e.message} for e in errors]
    return func.HttpResponse(
        json.dumps(body), status_code=status, headers=headers or {}, mimetype=PROBLEM_JSON
    )


def to_problem(exc: Exception) -> func.HttpResponse:
    """Map an error to its problem response (the one table of status codes)."""
    match exc:
        case HttpProblem():
            return problem(exc.status, exc.title, exc.detail, errors=exc.errors)
        case ValidationFailed():
            return problem(422, "Validation failed", exc.detail, errors=exc.errors)
        case Unauthorized():
            return problem(
                401, "Unauthorized", str(exc), headers={"WWW-Authenticate": 'Bearer realm="dtq"'}
            )
        case NotFound():
            return problem(404, "Not found", str(exc))
        case RateLimited():
            return problem(
                429,
                "Too many requests",
                str(exc),
                headers={"Retry-After": str(exc.retry_after)},
            )
        case Conflict():
            return problem(409, "Conflict", str(exc))
        case TooLarge():
            return problem(413, "Payload too large", str(exc))
        case InsufficientStorage():
            return problem(
                507,
                "Insufficient storage",
                str(exc),
                headers={"Retry-After": str(exc.retry_after)},
            )
        case BackendUnavailable():
            return problem(
                503,
                "Service unavailable",
                "a backend is unavailable; try again shortly",
                headers={"Retry-After": str(exc.retry_after)},
            )
        case PreconditionFailed():
            return problem(503, "Service unavailable", str(exc), headers={"Retry-After": "1"})
    log.exception("unhandled error in an HTTP function", exc_info=exc)
    return problem(500, "Internal error", "an unexpected error occurred; it has been logged")


def endpoint(handler: HttpHandler) -> HttpHandler:
    """Run ``handler`` in a server span (a child of the caller's ``traceparent``, if
    sent) and turn every exception into a problem response."""
    operation = handler.__name__

    @functools.wraps(handler)
    async def wrapper(req: func.HttpRequest, **bindings: Any) -> func.HttpResponse:
        attributes = {
            "http.request.method": req.method,
            "url.path": urlsplit(req.url).path,
            "dtq.operation": operation,
        }
        with tracer.start_as_current_span(
            f"{req.method} {operation}",
            context=context_from(req.headers.get("traceparent")),
            kind=SpanKind.SERVER,
            attributes=attributes,
        ) as span:
            try:
                response = await handler(req, **bindings)
            except Exception as exc:
                response = to_problem(exc)
                if response.status_code >= 500:
                    span.record_exception(exc)
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 500:
                span.set_status(trace.StatusCode.ERROR)
            return response

    return wrapper


def is_json(content_type: str) -> bool:
    """``application/json`` or ``application/<something>+json``, parameters aside."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def json_body(req: func.HttpRequest, *, optional: bool = False) -> Any:
    """The request body as JSON; with ``optional``, an empty body is ``{}``.

    A body must say it is JSON (``Content-Type: application/json``): an HTML form on
    another site can send ``text/plain`` or form data without the browser asking first,
    never JSON, so this rule shuts that door on both hosts (docs/security.md)."""
    body = req.get_body() or b""
    content_type = req.headers.get("content-type", "")
    if (body.strip() or content_type) and not is_json(content_type):
        raise HttpProblem(
            415,
            "Unsupported media type",
            f"send the body as application/json (got {content_type or 'no Content-Type'})",
        )
    if len(body) > MAX_REQUEST_BODY_BYTES:
        raise HttpProblem(
            413,
            "Payload too large",
            f"the request body is {len(body)} bytes; the limit is {MAX_REQUEST_BODY_BYTES}",
        )
    if not body.strip():
        if optional:
            return {}
        raise HttpProblem(400, "Bad request", "the request body is empty; send a JSON object")
    try:
        data = json.loads(body)
        # A "\ud800" escape decodes to a lone surrogate, which no store can keep as text.
        json.dumps(data, ensure_ascii=False).encode()
    except UnicodeEncodeError:  # before ValueError, its base class
        raise HttpProblem(
            400,
            "Bad request",
            "the request body holds a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff"
            " escape), which is not text",
        ) from None
    except RecursionError:
        raise HttpProblem(400, "Bad request", "the request body is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise HttpProblem(
            400, "Bad request", f"the request body is not valid JSON: {exc}"
        ) from None
    return data


def parse_model(model: type[BaseModel], data: Any) -> Any:
    """``data`` as ``model``, or ValidationFailed naming each bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [
            FieldError(".".join(str(p) for p in err["loc"]) or "body", err["msg"])
            for err in exc.errors()
        ]
        raise ValidationFailed("the request body is not valid", errors) from None


def problem_body(exc: Exception) -> dict[str, Any]:
    """The problem+json body ``exc`` would answer with, as data (for per-item results)."""
    response = to_problem(exc)
    return {"status": response.status_code, **json.loads(response.get_body())}


def int_param(req: func.HttpRequest, name: str, default: int) -> int:
    raw = req.params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValidationFailed(
            f"{name} must be an integer", [FieldError(name, "must be an integer")]
        ) from None


def not_modified(headers: dict[str, str]) -> func.HttpResponse:
    """304: the caller's copy is current. Described as the JSON it stands for, not the
    library's text/plain default."""
    return func.HttpResponse(status_code=304, headers=headers, mimetype="application/json")


def conditional_json(req: func.HttpRequest, body: Any, basis: Any = None) -> func.HttpResponse:
    """``body`` with a strong ETag of its content (or of ``basis``, the part whose change
    matters); 304 with no body when the caller's If-None-Match already holds it. Pollers
    (the web UI) back off while they get 304s."""
    text = json.dumps(body, separators=(",", ":"))  # serialized once: hashed and sent
    tagged = text if basis is None else json.dumps(basis, sort_keys=True, separators=(",", ":"))
    etag = f'"{hashlib.sha256(tagged.encode()).hexdigest()[:32]}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if etag_matches(req, etag):
        return not_modified(headers)
    return func.HttpResponse(text, status_code=200, headers=headers, mimetype="application/json")


def etag_matches(req: func.HttpRequest, etag: str) -> bool:
    header = req.headers.get("If-None-Match")
    if not header:
        return False
    tags = {t.strip() for t in header.split(",")}
    return "*" in tags or etag in tags or f"W/{etag}" in tags


class SubmitRequest(BaseModel):
    """Body of ``POST /api/v1/jobs``. Its JSON Schema is the OpenAPI document's, one
    variant per job type (functions/openapi.py)."""

    model_config = ConfigDict(
        extra="forbid",
        # scheduled_at or delay_seconds, not both (refused by SubmissionRules).
        json_schema_extra={
            "not": {
                "required": ["scheduled_at", "delay_seconds"],
                "properties": {
                    "scheduled_at": {"type": "string"},
                    "delay_seconds": {"type": "number"},
                },
            }
        },
    )

    job_type: str = Field(min_length=1, max_length=100)
    payload: dict[str, Any] = Field(default_factory=dict)
    max_attempts: int | None = Field(
        default=None, ge=1, le=MAX_ATTEMPTS, description="Attempts it gets (default: 3)."
    )
    scheduled_at: AwareDatetime | None = Field(
        default=None, description="Start no earlier than this (RFC 3339, with an offset)."
    )
    delay_seconds: float | None = Field(
        default=None,
        ge=0,
        le=MAX_DELAY_SECONDS,
        description="Start no earlier than this many seconds from now.",
    )
    timeout_seconds: float | None = Field(
        default=None, gt=0, description="Longest one attempt may run."
    )
    priority: Priority = Field(
        default=Priority.NORMAL, description="Which queue carries it (docs/priorities.md)."
    )

    def submission(self) -> Submission:
        return Submission(
            self.job_type,
            self.payload,
            max_attempts=self.max_attempts,
            scheduled_at=self.scheduled_at,
            delay_seconds=self.delay_seconds,
            timeout_seconds=self.timeout_seconds,
            priority=self.priority,
        )


class BatchSubmitRequest(BaseModel):
    """Body of ``POST /api/v1/jobs:batch``: each item is validated on its own."""

    model_config = ConfigDict(extra="forbid")

    jobs: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        description="SubmitRequests; each is validated on its own.",
    )


class RequeueRequest(BaseModel):
    """Body of ``POST /api/v1/dlq/{job_id}/requeue`` (optional)."""

    model_config = ConfigDict(extra="forbid")

    max_attempts: int | None = Field(
        default=None, ge=1, le=MAX_ATTEMPTS, description="Attempts this round gets (default: 3)."
    )


class BulkDeadLetterRequest(BaseModel):
    """Body of ``POST /api/v1/dlq/requeue`` and ``POST /api/v1/dlq/purge``."""

    model_config = ConfigDict(extra="forbid")

    job_type: str | None = Field(default=None, description="Only jobs of this type.")
    limit: int = Field(default=100, ge=1, le=MAX_BULK, description="Most jobs to act on.")
    max_attempts: int | None = Field(
        default=None,
        ge=1,
        le=MAX_ATTEMPTS,
        description="Requeue only: attempts this round gets.",
    )
