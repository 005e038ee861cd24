"""HTTP for the local host: an ASGI app that routes ``/<routePrefix>/...`` to the HTTP
functions (as ``func.HttpRequest`` in, ``func.HttpResponse`` out) and serves the
static web UI at ``/``."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import azure.functions as func
from starlette.requests import Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.constants import PROBLEM_JSON
from shared.host.catalog import Catalog, invoke

log = logging.getLogger(__name__)

#: The host's own cap on request bodies (the functions enforce their smaller limits).
HOST_MAX_BODY_BYTES = 4 * 1024 * 1024


def _problem(
    status: int, title: str, detail: str, headers: dict[str, str] | None = None
) -> Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return Response(json.dumps(body), status, headers=headers, media_type=PROBLEM_JSON)


async def _read_body(request: Request) -> bytes | None:
    """The body, or None when it is larger than the host accepts."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > HOST_MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _to_asgi(response: func.HttpResponse) -> Response:
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    if not any(k.lower() == "content-type" for k in headers) and response.mimetype:
        headers["Content-Type"] = response.mimetype
    body = b"" if response.status_code in (204, 304) else response.get_body()
    return Response(body, response.status_code, headers=headers)


def create_web_app(catalog: Catalog, route_prefix: str, static_dir: Path | None) -> ASGIApp:
    prefix = "/" + route_prefix.strip("/") if route_prefix.strip("/") else ""

    async def dispatch(request: Request) -> Response:
        path = request.url.path[len(prefix) :].strip("/") if prefix else request.url.path.strip("/")
        method = request.method.upper()
        lookup = "GET" if method == "HEAD" else method
        fn, route_params, path_known = catalog.route(lookup, "/" + path if path else "")
        if fn is None:
            if path_known:
                return _problem(405, "Method not allowed", f"{method} is not allowed here")
            return _problem(404, "Not found", f"no function serves {request.url.path}")
        body = await _read_body(request)
        if body is None:
            return _problem(413, "Payload too large", "the request body is too large")
        req = func.HttpRequest(
            method=method,
            url=str(request.url),
            headers=dict(request.headers),
            params=dict(request.query_params),
            route_params=route_params,
            body=body,
        )
        try:
            response = await invoke(fn.fn, **{fn.arg_name: req})
        except Exception:
            log.exception("function %s raised", fn.name)
            return _problem(500, "Internal error", "the function failed; see the host log")
        if not isinstance(response, func.HttpResponse):
            log.error("function %s returned %r, not an HttpResponse", fn.name, type(response))
            return _problem(500, "Internal error", "the function returned no HTTP response")
        return _to_asgi(response)

    static = (
        StaticFiles(directory=static_dir, html=True) if static_dir and static_dir.is_dir() else None
    )

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        """Everything under the route prefix goes to the functions (whatever characters
        the path holds); everything else is the static web UI."""
        path = scope.get("path", "")
        if scope["type"] == "http" and (
            not prefix or path == prefix or path.startswith(prefix + "/")
        ):
            response = await dispatch(Request(scope, receive))
        elif scope["type"] == "http" and static is not None:
            await static(scope, receive, send)
            return
        else:
            response = Response("Not Found", 404, media_type="text/plain")
        await response(scope, receive, send)

    return app
