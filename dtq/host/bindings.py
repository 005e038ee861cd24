"""The SignalR bindings, played by the local host as the Functions host plays them
against Azure SignalR Service:

- ``signalRConnectionInfo`` (input): the JSON string ``{"url", "accessToken"}``, a
  client token for the binding's hub and its ``userId`` expression (``{headers.X}``,
  ``{query.X}``);
- ``signalR`` (output, ``func.Out[str]``): after the function returns, its value (one
  message or group action, or a JSON list of them) is carried out through the service's
  data-plane REST API, in one call (``:batch``) with a token of its own; a failed call
  fails the invocation, as a failed output binding does in Azure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from dtq.host.signalr_keys import LocalSignalR

_EXPRESSION = re.compile(r"\{(headers|query)\.([^}]+)\}")


@dataclass(frozen=True)
class SignalRBinding:
    """One SignalR binding of a function, with its hub name resolved."""

    name: str
    type: str  # "signalRConnectionInfo" or "signalR"
    hub: str
    user_id: str = ""  # the userId expression of a connection info binding


class Out:
    """What the Python worker passes for a ``func.Out[T]`` parameter."""

    def __init__(self) -> None:
        self.value: Any = None

    def set(self, val: Any) -> None:
        self.value = val

    def get(self) -> Any:
        return self.value


def resolve_user(expression: str, headers: Mapping[str, str], query: Mapping[str, str]) -> str:
    """A ``userId`` binding expression for one HTTP request (missing values are empty)."""
    lowered = {k.lower(): v for k, v in headers.items()}

    def value(m: re.Match[str]) -> str:
        return (
            lowered.get(m.group(2).lower(), "")
            if m.group(1) == "headers"
            else query.get(m.group(2), "")
        )

    return _EXPRESSION.sub(value, expression)


class SignalRBindings:
    """The bindings of one process, against the local service ``keys`` names."""

    def __init__(self, keys: LocalSignalR) -> None:
        self.keys = keys
        self._client: httpx.AsyncClient | None = None

    def connection_info(self, hub: str, user_id: str, origin: str | None = None) -> str:
        """The input binding's value. ``origin`` (the request's own scheme and host)
        replaces the endpoint's in the URL, so a page reaches the hub on the name it
        loaded from (same origin); the token's ``aud`` stays the service's client URL."""
        url = self.keys.client_url(hub)
        if origin:
            url = origin.rstrip("/") + url[url.index("/signalr/") :]
        token = self.keys.token(self.keys.client_url(hub), user_id or None)
        return json.dumps({"url": url, "accessToken": token})

    async def deliver(self, hub: str, value: Any) -> None:
        """Carry out an output binding's value (nothing set: nothing to do), in one call
        to the service (its ``:batch``, dtq/host/signalr.py), the items in order."""
        if value is None:
            return
        items = json.loads(value) if isinstance(value, str | bytes) else value
        if isinstance(items, dict):
            items = [items]
        if not isinstance(items, list):
            raise ValueError("a signalR output is a message, a group action, or a list of them")
        for item in items:
            if "action" in item and str(item["action"]).lower() not in ("add", "remove"):
                raise ValueError(f"group action {item['action']!r} is not supported here")
        if items:
            await self._call("POST", f"/api/v1/hubs/{quote(hub.lower(), safe='')}/:batch", items)

    async def _call(self, method: str, path: str, body: Any) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=10, trust_env=False)
        url = self.keys.rest_url(path)
        headers = {"Authorization": f"Bearer {self.keys.token(url)}"}
        content = None if body is None else json.dumps(body, default=str).encode()
        if content is not None:
            headers["Content-Type"] = "application/json"
        response = await self._client.request(method, url, headers=headers, content=content)
        response.raise_for_status()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def signalr_kwargs(
    bindings: SignalRBindings,
    specs: tuple[SignalRBinding, ...],
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    origin: str | None = None,
) -> tuple[dict[str, Any], list[tuple[SignalRBinding, Out]]]:
    """The arguments a function's SignalR bindings add, and its outputs to deliver."""
    kwargs: dict[str, Any] = {}
    outs: list[tuple[SignalRBinding, Out]] = []
    for spec in specs:
        if spec.type == "signalRConnectionInfo":
            user = resolve_user(spec.user_id, headers or {}, query or {})
            kwargs[spec.name] = bindings.connection_info(spec.hub, user, origin)
        else:
            out = Out()
            kwargs[spec.name] = out
            outs.append((spec, out))
    return kwargs, outs


async def deliver_all(bindings: SignalRBindings, outs: list[tuple[SignalRBinding, Out]]) -> None:
    for spec, out in outs:
        await bindings.deliver(spec.hub, out.get())
