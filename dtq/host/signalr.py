"""The local host's stand-in for Azure SignalR Service in serverless mode, served by the
web process under ``/signalr`` (behind the browser guard):

- ``POST /signalr/client/negotiate?hub=H`` (``Authorization: Bearer <client token>``):
  a connection id and token, WebSockets only;
- ``GET /signalr/client/?hub=H&id=<connection token>&access_token=<client token>``, a
  WebSocket speaking the SignalR JSON hub protocol (records end with ``\\x1e``): the
  handshake, server pings every 15 s, invocations, close; client pings and client
  invocations are ignored (serverless mode with no upstream);
- the v1 data-plane REST API the Functions SignalR output binding calls, each request
  with a token whose ``aud`` is its URL: ``POST /api/v1/hubs/H`` (everyone),
  ``POST .../users/U``, ``POST .../groups/G``, ``PUT|DELETE .../groups/G/users/U``;
- one call of its own, ``POST /api/v1/hubs/H/:batch``: the items of one ``signalR``
  output (messages and group actions) in order, how the local host's bindings send an
  output: one call per message put a 10-job batch half a second behind
  (docs/performance.md).

Groups hold users, as Azure's user-group membership does: every connection of a user,
now and later, receives what its groups are sent. Written by hand: no maintained Python
library serves the SignalR protocol (docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from dtq.host.guard import problem
from dtq.host.signalr_frames import RS, record, step
from dtq.host.signalr_keys import SERVICE_PATH, LocalSignalR, TokenRefused, bearer

log = logging.getLogger(__name__)

PING_SECONDS = 15.0
#: How long a negotiated connection may take to open its WebSocket.
PENDING_SECONDS = 120.0
#: Frames waiting for a slow client; past it the connection is closed.
MAX_QUEUED = 1000
_REST = re.compile(r"^/api/v1/hubs/([^/]+)(?:/(users|groups)/([^/]+)(?:/users/([^/]+))?)?/?$")
_BATCH = re.compile(r"^/api/v1/hubs/([^/]+)/:batch$")


def _raw_path(scope: Scope) -> str:
    """The path below ``/signalr`` as sent (percent-encoded), as a REST token's ``aud``
    names it."""
    raw = scope.get("raw_path") or scope.get("path", "").encode()
    return bytes(raw).decode("latin-1").split("?", 1)[0][len(SERVICE_PATH) :]


@dataclass
class Connection:
    connection_id: str
    user_id: str | None
    frames: asyncio.Queue[str | None] = field(default_factory=lambda: asyncio.Queue(MAX_QUEUED))

    def push(self, frame: str | None) -> None:
        try:
            self.frames.put_nowait(frame)
        except asyncio.QueueFull:
            log.warning("SignalR connection %s is too slow: closing it", self.connection_id)
            with contextlib.suppress(asyncio.QueueEmpty):
                self.frames.get_nowait()
            self.frames.put_nowait(None)


@dataclass
class Hub:
    connections: dict[str, Connection] = field(default_factory=dict)
    #: user id -> the groups it belongs to.
    groups_of: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    #: connection token -> (connection id, user id, negotiated at).
    pending: dict[str, tuple[str, str | None, float]] = field(default_factory=dict)

    def send(self, frame: str, *, group: str | None = None, user: str | None = None) -> int:
        sent = 0
        for conn in list(self.connections.values()):
            if user is not None and conn.user_id != user:
                continue
            if group is not None and group not in self.groups_of.get(conn.user_id or "", ()):
                continue
            conn.push(frame)
            sent += 1
        return sent


class SignalRService:
    """The hubs of one web process, and the ASGI handler of ``/signalr/...``."""

    def __init__(self, keys: LocalSignalR) -> None:
        self.keys = keys
        self.hubs: defaultdict[str, Hub] = defaultdict(Hub)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")[len(SERVICE_PATH) :]
        if scope["type"] == "websocket":
            await self._websocket(WebSocket(scope, receive, send), path)
            return
        request = Request(scope, receive)
        if path == "/client/negotiate":
            response = self._negotiate(request)
        elif (m := _BATCH.match(raw := _raw_path(scope))) is not None:
            response = await self._batch(request, raw, m)
        elif (m := _REST.match(raw)) is not None:
            response = await self._rest(request, raw, m)
        else:
            response = problem(404, "Not found", f"the SignalR service has nothing at {path}")
        await response(scope, receive, send)

    # -- clients ---------------------------------------------------------------------

    def _client_claims(self, hub: str, token: str | None) -> dict[str, Any]:
        return self.keys.verify(token, self.keys.client_url(hub))

    def _negotiate(self, request: Request) -> Response:
        if request.method != "POST":
            return problem(405, "Method not allowed", "negotiate is POST")
        hub = request.query_params.get("hub", "").lower()
        try:
            claims = self._client_claims(hub, bearer(request.headers.get("authorization")))
        except TokenRefused as exc:
            return problem(401, "Unauthorized", f"the access token is refused: {exc}")
        version = 1 if request.query_params.get("negotiateVersion", "0") not in ("", "0") else 0
        connection_id = secrets.token_urlsafe(16)
        token = secrets.token_urlsafe(24) if version else connection_id
        state = self.hubs[hub]
        now = time.monotonic()
        for old in [t for t, (_, _, at) in state.pending.items() if now - at > PENDING_SECONDS]:
            del state.pending[old]
        state.pending[token] = (connection_id, claims.get("nameid"), now)
        body: dict[str, Any] = {"connectionId": connection_id, "negotiateVersion": version}
        if version:
            body["connectionToken"] = token
        body["availableTransports"] = [
            {"transport": "WebSockets", "transferFormats": ["Text", "Binary"]}
        ]
        return JSONResponse(body)

    async def _deny(self, ws: WebSocket, response: Response) -> None:
        if "websocket.http.response" in ws.scope.get("extensions", {}):
            await ws.send_denial_response(response)
        else:
            await ws.close(code=1008)

    async def _websocket(self, ws: WebSocket, path: str) -> None:
        if (await ws.receive())["type"] != "websocket.connect":
            return
        if path.rstrip("/") != "/client":
            await self._deny(ws, problem(404, "Not found", f"no WebSocket at {path}"))
            return
        hub = ws.query_params.get("hub", "").lower()
        token = ws.query_params.get("access_token") or bearer(ws.headers.get("authorization"))
        try:
            claims = self._client_claims(hub, token)
        except TokenRefused as exc:
            await self._deny(ws, problem(401, "Unauthorized", f"token refused: {exc}"))
            return
        state = self.hubs[hub]
        pending = state.pending.pop(ws.query_params.get("id", ""), None)
        if pending is None or pending[1] != claims.get("nameid"):
            await self._deny(ws, problem(404, "Not found", "no negotiated connection has that id"))
            return
        await ws.accept()
        conn = Connection(pending[0], pending[1])
        try:
            if not await self._handshake(ws):
                return
            state.connections[conn.connection_id] = conn
            log.debug("SignalR %s: %s connected (user %s)", hub, conn.connection_id, conn.user_id)
            await self._serve(ws, conn)
        except WebSocketDisconnect:
            pass
        finally:
            state.connections.pop(conn.connection_id, None)

    async def _handshake(self, ws: WebSocket) -> bool:
        text = ""
        async with asyncio.timeout(15):
            while RS not in text:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    return False
                text += message.get("text") or (message.get("bytes") or b"").decode()
        try:
            request = json.loads(text.split(RS, 1)[0])
            protocol, version = request.get("protocol"), request.get("version")
        except (ValueError, AttributeError):
            protocol, version = None, None
        if protocol != "json" or version != 1:
            error = f"Requested protocol '{protocol}' (version {version}) is not available."
            await ws.send_text(record({"error": error}))
            await ws.close(code=1000)
            return False
        await ws.send_text(record({}))
        return True

    async def _serve(self, ws: WebSocket, conn: Connection) -> None:
        async def write() -> None:
            while (frame := await conn.frames.get()) is not None:
                await ws.send_text(frame)
            await ws.send_text(record({"type": 7, "error": "Connection closed by the service."}))
            await ws.close(code=1000)

        async def ping() -> None:
            while True:
                await asyncio.sleep(PING_SECONDS)
                conn.push(record({"type": 6}))

        tasks = [asyncio.create_task(write()), asyncio.create_task(ping())]
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect" or tasks[0].done():
                    return
                text = message.get("text") or (message.get("bytes") or b"").decode()
                for part in filter(None, text.split(RS)):
                    with contextlib.suppress(ValueError, AttributeError):
                        if json.loads(part).get("type") == 7:  # the client closes
                            return
                # type 6 (ping) and client invocations: nothing to do in serverless mode
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- the data-plane REST API -----------------------------------------------------

    async def _rest(self, request: Request, path: str, m: re.Match[str]) -> Response:
        audience = self.keys.rest_url(path.rstrip("/"))
        try:
            self.keys.verify(bearer(request.headers.get("authorization")), audience)
        except TokenRefused as exc:
            return problem(401, "Unauthorized", f"the access token is refused: {exc}")
        hub_name, kind, name, member = (unquote(g) if g else g for g in m.groups())
        hub, method = self.hubs[hub_name.lower()], request.method.upper()
        if kind == "groups" and member is not None:
            if method == "PUT":
                hub.groups_of[member].add(name)
            elif method == "DELETE":
                hub.groups_of.get(member, set()).discard(name)
            else:
                return problem(405, "Method not allowed", "PUT or DELETE a group's user")
            return Response(status_code=200)
        if method != "POST":
            return problem(405, "Method not allowed", "messages are POSTed")
        try:
            body = json.loads(await request.body())
            frame = record({"type": 1, "target": body["target"], "arguments": body["arguments"]})
        except (ValueError, KeyError, TypeError):
            return problem(400, "Bad request", 'send {"target": ..., "arguments": [...]}')
        if kind == "groups":
            hub.send(frame, group=name)
        else:
            hub.send(frame, user=name if kind == "users" else None)
        return Response(status_code=202)

    async def _batch(self, request: Request, path: str, m: re.Match[str]) -> Response:
        try:
            self.keys.verify(bearer(request.headers.get("authorization")), self.keys.rest_url(path))
        except TokenRefused as exc:
            return problem(401, "Unauthorized", f"the access token is refused: {exc}")
        if request.method.upper() != "POST":
            return problem(405, "Method not allowed", "a batch is POSTed")
        hub = self.hubs[unquote(m.group(1)).lower()]
        try:
            items = json.loads(await request.body())
            if not isinstance(items, list):
                raise TypeError("not a list")
            steps = [step(item) for item in items]  # all checked before any is applied
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return problem(400, "Bad request", f"send a list of messages and group actions: {exc}")
        for apply in steps:
            apply(hub)
        return Response(status_code=202)

    def close_all(self) -> None:
        """Close every connection (the host is stopping)."""
        for hub in self.hubs.values():
            for conn in hub.connections.values():
                conn.push(None)
