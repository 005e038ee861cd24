"""The local SignalR service's connection string and tokens, as Azure SignalR Service
(serverless mode) has them: ``Endpoint=...;AccessKey=...;Version=1.0;``, and JWTs signed
HS256 with the AccessKey whose ``aud`` is the URL they are good for (the client URL
``<endpoint>/client/?hub=<hub>`` for clients; the request URL, without its query, for
the data-plane REST API)."""

from __future__ import annotations

import base64
import os
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import jwt

from shared.settings import Settings, env_name

#: The path under which ``dtq serve`` serves its SignalR service.
SERVICE_PATH = "/signalr"
#: How long a token is good for (the Functions SignalR extension's default: 1 h).
TOKEN_SECONDS = 3600


class TokenRefused(Exception):
    """A token that is missing, badly signed, for another URL, or expired."""


def _wildcard(host: str) -> bool:
    return host in ("0.0.0.0", "::", "")


@dataclass(frozen=True)
class LocalSignalR:
    """The endpoint and AccessKey of the local host's SignalR service."""

    endpoint: str  # http://127.0.0.1:7071/signalr
    access_key: str

    @classmethod
    def new(cls, host: str, port: int) -> LocalSignalR:
        """A service for ``dtq serve`` bound to ``host:port``, with a fresh random key."""
        name = "127.0.0.1" if _wildcard(host) else host
        name = f"[{name}]" if ":" in name else name
        key = base64.b64encode(secrets.token_bytes(32)).decode()
        return cls(f"http://{name}:{port}{SERVICE_PATH}", key)

    @classmethod
    def parse(cls, connection_string: str | None) -> LocalSignalR | None:
        """The local service a connection string names; None for Azure's (always an
        ``https`` endpoint) or none at all."""
        fields: dict[str, str] = {}
        for part in (connection_string or "").split(";"):
            name, sep, value = part.partition("=")
            if sep:
                fields[name.strip().lower()] = value.strip()
        endpoint, key = fields.get("endpoint", ""), fields.get("accesskey", "")
        parts = urlsplit(endpoint)
        if parts.scheme != "http" or parts.path.rstrip("/") != SERVICE_PATH or not key:
            return None
        return cls(endpoint.rstrip("/"), key)

    @property
    def connection_string(self) -> str:
        return f"Endpoint={self.endpoint};AccessKey={self.access_key};Version=1.0;"

    def client_url(self, hub: str) -> str:
        return f"{self.endpoint}/client/?hub={quote(hub.lower(), safe='')}"

    def rest_url(self, path: str) -> str:
        """The data-plane URL of ``path`` (``/api/v1/hubs/...``), which is also the
        ``aud`` of its token."""
        return f"{self.endpoint}{path}"

    def token(self, audience: str, user_id: str | None = None) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {"aud": audience, "iat": now, "nbf": now}
        claims["exp"] = now + TOKEN_SECONDS
        if user_id:
            claims["nameid"] = user_id
        return jwt.encode(claims, self.access_key.encode(), algorithm="HS256")

    def verify(self, token: str | None, audience: str) -> dict[str, Any]:
        """The claims of ``token`` if it is signed with this key, for ``audience`` and
        not expired; else :class:`TokenRefused`."""
        if not token:
            raise TokenRefused("no access token")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.access_key.encode(),
                algorithms=["HS256"],
                audience=audience,
                options={"require": ["exp", "aud"]},
                leeway=5,
            )
        except jwt.InvalidTokenError as exc:
            raise TokenRefused(str(exc)) from exc
        return claims


def bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer ...`` header."""
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def local_service(settings: Settings, host: str, port: int) -> tuple[Settings, LocalSignalR | None]:
    """For ``dtq serve`` on ``host:port``: the settings with the local SignalR service's
    connection string (also put in the environment, which the worker processes inherit),
    unless the settings name Azure SignalR Service: then they are returned as they are,
    with None. A connection string already naming this host's service keeps its key (so
    ``dtq worker`` processes started apart can share it); otherwise the key is new."""
    given = LocalSignalR.parse(settings.signalr_connection)
    if settings.push_enabled and given is None:
        return settings, None
    local = LocalSignalR.new(host, port)
    if given is not None and given.endpoint == local.endpoint:
        local = given
    os.environ[env_name("signalr_connection")] = local.connection_string
    return settings.model_copy(update={"signalr_connection": local.connection_string}), local


#: The file in the data folder where ``dtq serve`` notes its service's connection string,
#: so a ``dtq worker`` started apart on the same data joins the push path (owner-only).
NOTE = "signalr-connection"


def note_service(settings: Settings, local: LocalSignalR) -> None:
    """Write ``local``'s connection string to the data folder, readable by its owner only."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / NOTE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(local.connection_string + "\n")
    path.chmod(0o600)


def joined_service(settings: Settings) -> Settings:
    """For a ``dtq worker``: the settings with the connection string of the local host
    serving this data folder, when none is set (a worker that ``dtq serve`` started has it
    in its environment already); as they are otherwise."""
    path = settings.data_dir / NOTE
    if settings.signalr_connection or settings.signalr_service_uri or not path.is_file():
        return settings
    noted = path.read_text().strip()
    if LocalSignalR.parse(noted) is None:
        return settings
    os.environ[env_name("signalr_connection")] = noted
    return settings.model_copy(update={"signalr_connection": noted})
