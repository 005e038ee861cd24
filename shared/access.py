"""Access: which tenant a request acts for.

A request names its tenant with an API key (``Authorization: Bearer <key>`` or
``X-API-Key: <key>``); in Azure behind Static Web Apps it may instead carry the
signed-in user's client principal. Keys look like ``dtq_<key id>_<secret>``: the id
finds the stored record with one point read, and only a SHA-256 hash of the secret is
stored (the secret has 256 bits of entropy, so a fast hash is enough; a slow password
hash would only slow every request). Without credentials a request gets the default
tenant, unless ``DTQ_REQUIRE_API_KEYS`` is set, as it must be anywhere but loopback.

The **operator** may read the deployment's own figures (queue depths, the queues'
dead-lettered messages, worker processes, ``/api/metrics``): a request with an API key
whose id ``DTQ_OPERATOR_KEY_IDS`` lists, or the keyless default tenant (the single
tenant of a host that requires no keys). A client principal is never the operator.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from shared.errors import FieldError, NotFound, Unauthorized, ValidationFailed
from shared.jobs import utcnow
from shared.ports import ApiKey, ApiKeyStore

TOKEN = re.compile(r"dtq_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
TENANT_ID = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
#: Static Web Apps passes the signed-in user in this header (base64 JSON).
CLIENT_PRINCIPAL = "x-ms-client-principal"
#: A Static Web Apps role naming the user's tenant: "tenant-<id>".
TENANT_ROLE = re.compile(r"tenant-([A-Za-z0-9_.@-]{1,64})")


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def operator_key_ids(setting: str) -> frozenset[str]:
    """The key ids a comma-separated ``DTQ_OPERATOR_KEY_IDS`` lists."""
    return frozenset(part.strip() for part in setting.split(",") if part.strip())


@dataclass(frozen=True)
class Caller:
    """Who a request acts as."""

    tenant_id: str
    #: The id of the API key it presented (None: the default tenant or a client principal).
    key_id: str | None = None
    #: May read the deployment's own figures (see the module's docstring).
    operator: bool = False


def credentials(headers: Mapping[str, str]) -> str | None:
    """The API key a request carries, if any."""
    lowered = {k.lower(): v for k, v in headers.items()}
    auth = lowered.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return lowered.get("x-api-key", "").strip() or None


class Access:
    def __init__(
        self,
        keys: ApiKeyStore,
        *,
        require_keys: bool,
        default_tenant: str,
        trust_client_principal: bool = False,
        operator_keys: Collection[str] = frozenset(),
        cache_seconds: float = 10.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.keys = keys
        self.require_keys = require_keys
        self.default_tenant = default_tenant
        self.trust_client_principal = trust_client_principal
        #: The key ids of DTQ_OPERATOR_KEY_IDS (see :func:`operator_key_ids`).
        self.operator_keys = frozenset(operator_keys)
        #: A revoked key keeps working for at most this long on an instance that saw it.
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._cache: dict[str, tuple[float, ApiKey]] = {}

    # -- administration (the `dtq keys` command) ------------------------------------

    async def create_key(self, tenant_id: str, name: str = "") -> tuple[ApiKey, str]:
        """A new key for ``tenant_id``; returns it and the token, which is shown once."""
        if not TENANT_ID.fullmatch(tenant_id):
            raise ValidationFailed(
                "the tenant id is not valid",
                [FieldError("tenant", "1 to 64 letters, digits and _ . @ -")],
            )
        key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        key = ApiKey(
            key_id=key_id,
            tenant_id=tenant_id,
            name=name[:100],
            secret_hash=hash_secret(secret),
            created_at=self.clock(),
        )
        await self.keys.add(key)
        return key, f"dtq_{key_id}_{secret}"

    async def revoke_key(self, key_id: str) -> ApiKey:
        key = await self.keys.revoke(key_id, self.clock())
        self._cache.pop(key_id, None)
        return key

    # -- requests -------------------------------------------------------------------

    async def tenant_of(self, headers: Mapping[str, str]) -> str:
        """The tenant a request acts for, or Unauthorized."""
        return (await self.caller(headers)).tenant_id

    async def caller(self, headers: Mapping[str, str]) -> Caller:
        """Who a request acts as, or Unauthorized."""
        token = credentials(headers)
        if token is not None:
            key = await self._check(token)
            return Caller(key.tenant_id, key.key_id, operator=key.key_id in self.operator_keys)
        if self.trust_client_principal:
            tenant = principal_tenant(headers)
            if tenant is not None:
                return Caller(tenant)
        if not self.require_keys:
            # The keyless host's single tenant runs the host: it is the operator.
            return Caller(self.default_tenant, operator=True)
        raise Unauthorized(
            "this API needs an API key: send Authorization: Bearer <key> or X-API-Key: <key>"
        )

    async def _check(self, token: str) -> ApiKey:
        match = TOKEN.fullmatch(token)
        if match is None:
            raise Unauthorized("the API key is not valid")
        key_id, secret = match.groups()
        key = await self._key(key_id)
        if key is None or not hmac.compare_digest(key.secret_hash, hash_secret(secret)):
            raise Unauthorized("the API key is not valid")
        if key.revoked_at is not None:
            raise Unauthorized("the API key was revoked")
        return key

    async def _key(self, key_id: str) -> ApiKey | None:
        cached = self._cache.get(key_id)
        if cached is not None and time.monotonic() - cached[0] < self.cache_seconds:
            return cached[1]
        try:
            key = await self.keys.get(key_id)
        except NotFound:
            return None
        self._cache[key_id] = (time.monotonic(), key)
        return key


def principal_tenant(headers: Mapping[str, str]) -> str | None:
    """The tenant of a Static Web Apps client principal: its ``tenant-<id>`` role, or
    ``user-<userId>`` (each user a tenant of their own). Only trusted behind Static Web
    Apps, which sets the header and strips it from incoming requests."""
    raw = {k.lower(): v for k, v in headers.items()}.get(CLIENT_PRINCIPAL)
    if not raw:
        return None
    try:
        principal = json.loads(base64.b64decode(raw, validate=True))
    except (binascii.Error, ValueError):
        raise Unauthorized("the client principal header is not valid") from None
    if not isinstance(principal, dict):
        raise Unauthorized("the client principal header is not valid")
    for role in principal.get("userRoles") or []:
        match = TENANT_ROLE.fullmatch(str(role))
        if match:
            return match.group(1)
    user = str(principal.get("userId") or "")
    if not re.fullmatch(r"[A-Za-z0-9_.@-]{1,59}", user):
        raise Unauthorized("the client principal names no user")
    return f"user-{user}"
