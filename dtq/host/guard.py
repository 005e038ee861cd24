"""The local host's doors against the browser it runs beside (docs/security.md).

The keyless local host answers anyone who can reach its port, and every web page the
user opens can make their browser send it requests. This ASGI middleware, in front of
everything the host serves, keeps three doors shut:

- **DNS rebinding**: a request whose ``Host`` is not a name this host answers to
  (``localhost``, the loopback addresses, the address it is bound to, and the names in
  ``DTQ_ALLOWED_HOSTS``) is refused with ``421``, so a page on a domain that resolves to
  127.0.0.1 cannot read or change anything.
- **Cross-site request forgery**: a state-changing request (anything but GET, HEAD and
  OPTIONS) that a browser marks as coming from another site or origin
  (``Sec-Fetch-Site`` other than ``same-origin``/``none``, or an ``Origin`` that is not
  this host's) is refused with ``403``. Programs (the CLI, curl) send neither header and
  pass; the UI is same-origin. JSON endpoints also refuse a body that is not
  ``application/json`` (``415``, functions/decoding.py), so an HTML form cannot post one.
- **Cross-site WebSockets**: a WebSocket handshake (the SignalR hub, dtq/host/signalr.py)
  is held to the same two rules as a state-changing request: browsers let any page
  open a WebSocket to any host, so one from another origin is refused (``403``).
- **Framing and sniffing**: every answer carries the page's Content-Security-Policy with
  ``frame-ancestors 'none'``, ``X-Content-Type-Options: nosniff``, ``Referrer-Policy:
  no-referrer`` and ``Cross-Origin-Opener-Policy: same-origin``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.constants import PROBLEM_JSON

#: Names a loopback host answers to, whatever it is bound to.
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Fetch metadata values of a request the page itself (or no page: a typed URL) made.
OWN_FETCH_SITES = frozenset({"same-origin", "none"})
#: Used when the page's own policy cannot be read: nothing from elsewhere, no framing.
FALLBACK_CSP = "default-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'"
_META_CSP = re.compile(r'http-equiv="Content-Security-Policy"\s+content="([^"]+)"')


def page_csp(static_dir: Path | None) -> str:
    """The Content-Security-Policy of ``static-web/index.html`` (its meta tag), plus the
    header-only ``frame-ancestors 'none'``: one policy, so the two cannot drift."""
    index = static_dir / "index.html" if static_dir else None
    found = _META_CSP.search(index.read_text()) if index and index.is_file() else None
    policy = found.group(1) if found else FALLBACK_CSP
    return policy.rstrip("; ") + "; frame-ancestors 'none'"


def host_name(host_header: str) -> str:
    """``Host`` without its port, lower case (``[::1]:7071`` -> ``::1``)."""
    value = host_header.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def allowed_hosts(bound: str, extra: Iterable[str]) -> frozenset[str] | None:
    """The Host names to serve: loopback names, the bound address (unless a wildcard),
    and ``extra``; None when ``extra`` holds ``*`` (every Host served)."""
    names = {h.strip().lower().strip("[]") for h in extra if h.strip()}
    if "*" in names:
        return None
    if bound not in ("0.0.0.0", "::", ""):
        names.add(bound.lower().strip("[]"))
    return frozenset(LOOPBACK_NAMES | names)


def problem(
    status: int, title: str, detail: str, headers: dict[str, str] | None = None
) -> Response:
    """An ``application/problem+json`` answer of the local host itself (the guard's, the
    static files', the router's), shaped as the functions' own problems are."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return Response(json.dumps(body), status, headers=headers, media_type=PROBLEM_JSON)


class BrowserGuard:
    """ASGI middleware: the Host allowlist, the same-origin rule for state changes, and
    the security headers on every answer."""

    def __init__(self, app: ASGIApp, *, hosts: frozenset[str] | None, csp: str) -> None:
        self.app = app
        self.hosts = hosts
        self.headers = [
            (b"content-security-policy", csp.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"cross-origin-opener-policy", b"same-origin"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            refused = self.refusal(scope)
            if refused is None:
                await self.app(scope, receive, send)
            else:
                await deny_websocket(refused, scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.headers if k not in names]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        refusal = self.refusal(scope)
        if refusal is not None:
            await refusal(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)

    def refusal(self, scope: Scope) -> Response | None:
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if self.hosts is not None and host_name(host) not in self.hosts:
            return problem(
                421,
                "Misdirected request",
                f"this host does not answer to {host_name(host)!r}; it serves "
                + ", ".join(sorted(self.hosts))
                + " (DTQ_ALLOWED_HOSTS adds names)",
            )
        if scope["type"] == "http" and scope["method"].upper() in SAFE_METHODS:
            return None
        site = headers.get("sec-fetch-site")
        if site is not None and site.lower() not in OWN_FETCH_SITES:
            return problem(
                403, "Forbidden", f"a {site} page may not change anything here (same-origin only)"
            )
        origin = headers.get("origin")
        scheme = str(scope.get("scheme", "http"))
        scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)  # a WebSocket's page
        if origin is not None and origin.lower() != f"{scheme}://{host}".lower():
            return problem(403, "Forbidden", f"requests from {origin} may not change anything here")
        return None


async def deny_websocket(response: Response, scope: Scope, receive: Receive, send: Send) -> None:
    """Refuse a WebSocket handshake with ``response`` (an HTTP answer, where the server
    offers the denial-response extension; else a bare close, which is a 403)."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    if "websocket.http.response" in scope.get("extensions", {}):
        await response(scope, receive, send)
    else:
        await send({"type": "websocket.close", "code": 1008})
