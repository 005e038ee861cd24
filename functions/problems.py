"""Errors as ``application/problem+json`` (RFC 9457), with an ``errors`` list naming
each offending field: the one table of HTTP status codes."""

from __future__ import annotations

import json
import logging
from typing import Any

import azure.functions as func

from shared.constants import PROBLEM_JSON
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

log = logging.getLogger(__name__)


class HttpProblem(DtqError):
    """An error with an explicit HTTP status (400 malformed JSON, 413 too large)."""

    def __init__(
        self, status: int, title: str, detail: str, errors: list[FieldError] | None = None
    ):
        super().__init__(detail)
        self.status, self.title, self.detail, self.errors = status, title, detail, errors or []


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


def problem_body(exc: Exception) -> dict[str, Any]:
    """The problem+json body ``exc`` would answer with, as data (for per-item results)."""
    response = to_problem(exc)
    return {"status": response.status_code, **json.loads(response.get_body())}
