"""Decoding requests: a JSON body (its media type, size and text checked), a pydantic
model of it, an integer query parameter. What is wrong leaves as a problem
(functions/problems.py) naming the field."""

from __future__ import annotations

import json
import re
from typing import Any

import azure.functions as func
from pydantic import BaseModel, ValidationError

from functions.problems import HttpProblem
from shared.constants import MAX_REQUEST_BODY_BYTES
from shared.errors import FieldError, ValidationFailed


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


_PREFER_WAIT = re.compile(r'(?:^|[,;\s])wait\s*=\s*"?(\d+(?:\.\d+)?)"?', re.I)


def prefer_wait(req: func.HttpRequest, most: float) -> float | None:
    """The seconds of a ``Prefer: wait=N`` header (RFC 7240), at most ``most``; None if
    the request prefers no wait (or says it in a way that cannot be read: a preference
    is a hint, never an error)."""
    match = _PREFER_WAIT.search(req.headers.get("Prefer", ""))
    if match is None:
        return None
    return min(float(match.group(1)), most)
