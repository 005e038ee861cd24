"""The wrapper every HTTP trigger wears: a server span, and every exception turned
into its problem response (functions/problems.py)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import azure.functions as func
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from functions.problems import to_problem
from shared.telemetry import context_from, tracer

#: An HTTP trigger: the request, then any other bindings by name (e.g. SignalR's).
HttpHandler = Callable[..., Awaitable[func.HttpResponse]]


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
