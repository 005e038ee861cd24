"""HTTP for the local host: an ASGI app that routes ``/<routePrefix>/...`` to the HTTP
functions (as ``func.HttpRequest`` in, ``func.HttpResponse`` out), ``/signalr/...`` to
the local SignalR service (dtq/host/signalr.py), and serves the static web UI at
``/``."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import azure.functions as func
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from dtq.host.bindings import SignalRBindings, deliver_all, signalr_kwargs
from dtq.host.catalog import Catalog, HttpFunction, invoke
from dtq.host.guard import LOOPBACK_NAMES, BrowserGuard, page_csp, problem
from dtq.host.signalr import SignalRService
from dtq.host.signalr_keys import SERVICE_PATH

log = logging.getLogger(__name__)

#: The host's own cap on request bodies (the functions enforce their smaller limits).
HOST_MAX_BODY_BYTES = 4 * 1024 * 1024


#: Longest a client may take to send a request's body; past it the answer is 408, so a
#: slow client cannot hold a connection and its memory for ever.
BODY_TIMEOUT_SECONDS = 30.0


async def _read_body(request: Request) -> bytes | Response:
    """The body, or the problem to answer: too large, too slow, or the client went away."""
    timeout = BODY_TIMEOUT_SECONDS
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > HOST_MAX_BODY_BYTES:
                    return problem(413, "Payload too large", "the request body is too large")
                chunks.append(chunk)
    except ClientDisconnect:
        log.info("%s %s: the client went away mid-body", request.method, request.url.path)
        return problem(400, "Bad request", "the request body ended early")
    except TimeoutError:
        log.info("%s %s: the body took over %gs", request.method, request.url.path, timeout)
        return problem(
            408, "Request timeout", f"the request body did not arrive within {timeout:g}s"
        )
    return b"".join(chunks)


def _to_asgi(response: func.HttpResponse) -> Response:
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    if not any(k.lower() == "content-type" for k in headers) and response.mimetype:
        headers["Content-Type"] = response.mimetype
    body = b"" if response.status_code in (204, 304) else response.get_body()
    return Response(body, response.status_code, headers=headers)


async def _static(
    static: StaticFiles, scope: Scope, receive: Receive, send: Send
) -> Response | None:
    """Serve a file of the web UI; None once served, else the problem to answer (a
    missing file is 404, a method other than GET or HEAD is 405)."""
    method = scope.get("method", "GET").upper()
    if method not in ("GET", "HEAD"):
        return problem(
            405,
            "Method not allowed",
            f"{method} is not allowed on the web UI's files",
            headers={"Allow": "GET, HEAD"},
        )
    try:
        await static(scope, receive, send)
    except HTTPException as exc:
        return problem(exc.status_code, "Not found", f"no file at {scope.get('path', '')}")
    return None


async def _call(
    fn: HttpFunction, req: func.HttpRequest, request: Request, bindings: SignalRBindings | None
) -> object:
    """Invoke ``fn`` with its SignalR bindings played (inputs before, outputs after)."""
    if not fn.signalr or bindings is None:
        return await invoke(fn.fn, **{fn.arg_name: req})
    origin = f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"
    extra, outs = signalr_kwargs(
        bindings, fn.signalr, dict(request.headers), dict(request.query_params), origin
    )
    response = await invoke(fn.fn, **{fn.arg_name: req}, **extra)
    await deliver_all(bindings, outs)
    return response


def create_web_app(
    catalog: Catalog,
    route_prefix: str,
    static_dir: Path | None,
    hosts: frozenset[str] | None = LOOPBACK_NAMES,
    signalr: SignalRService | None = None,
) -> ASGIApp:
    """The host's whole HTTP side, behind its browser guard (dtq/host/guard.py):
    only ``hosts`` are served (None: any). With ``signalr``, its service is served at
    ``/signalr`` and the functions' SignalR bindings are played against it."""
    prefix = "/" + route_prefix.strip("/") if route_prefix.strip("/") else ""
    bindings = SignalRBindings(signalr.keys) if signalr is not None else None

    async def dispatch(request: Request) -> Response:
        path = request.url.path[len(prefix) :].strip("/") if prefix else request.url.path.strip("/")
        method = request.method.upper()
        lookup = "GET" if method == "HEAD" else method
        fn, route_params, path_known = catalog.route(lookup, "/" + path if path else "")
        if fn is None and (elsewhere := catalog.azure_only(lookup, "/" + path)) is not None:
            # A function only Azure runs (SignalR negotiate): "not here", without an error
            # status, so the web UI learns it has no push and polls, and logs nothing.
            names = ", ".join(catalog.skipped.get(elsewhere.name, []))
            return Response(
                status_code=204,
                headers={"X-Dtq-Not-Served": f"{elsewhere.name} runs in Azure only ({names})"},
            )
        if fn is None:
            if path_known:
                return problem(405, "Method not allowed", f"{method} is not allowed here")
            return problem(404, "Not found", f"no function serves {request.url.path}")
        body = await _read_body(request)
        if isinstance(body, Response):
            return body
        req = func.HttpRequest(
            method=method,
            url=str(request.url),
            headers=dict(request.headers),
            params=dict(request.query_params),
            route_params=route_params,
            body=body,
        )
        try:
            response = await _call(fn, req, request, bindings)
        except Exception:
            log.exception("function %s raised", fn.name)
            return problem(500, "Internal error", "the function failed; see the host log")
        if not isinstance(response, func.HttpResponse):
            log.error("function %s returned %r, not an HttpResponse", fn.name, type(response))
            return problem(500, "Internal error", "the function returned no HTTP response")
        return _to_asgi(response)

    static = (
        StaticFiles(directory=static_dir, html=True) if static_dir and static_dir.is_dir() else None
    )

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        """Everything under the route prefix goes to the functions (whatever characters
        the path holds); everything else is the static web UI."""
        path = scope.get("path", "")
        response: Response | None
        if signalr is not None and (path == SERVICE_PATH or path.startswith(SERVICE_PATH + "/")):
            await signalr(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] == "http" and (
            not prefix or path == prefix or path.startswith(prefix + "/")
        ):
            response = await dispatch(Request(scope, receive))
        elif scope["type"] == "http" and static is not None:
            response = await _static(static, scope, receive, send)
            if response is None:
                return
        else:
            response = problem(404, "Not found", f"nothing is served at {path}")
        await response(scope, receive, send)

    return BrowserGuard(app, hosts=hosts, csp=page_csp(static_dir))
