"""Per-tenant limits: submissions per minute and jobs running at once.

Limits belong to tenants, not to the machine. Tenants that use API keys get the
seeds' defaults (10 submissions a minute, 5 jobs running); the keyless default tenant
of the local host is unlimited unless a setting says otherwise, so demos, benchmarks
and chaos runs are never quietly throttled. Any tenant can have limits of its own
(``DTQ_TENANT_LIMITS``). 0 means unlimited. The counters live in the stores, so every
API and worker instance shares them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, ValidationError


@dataclass(frozen=True)
class Limits:
    #: Submissions a tenant may make per minute (0: unlimited).
    submissions_per_minute: int = 0
    #: Jobs of the tenant that may run at once (0: unlimited).
    max_running: int = 0


class _Override(BaseModel):
    model_config = ConfigDict(extra="forbid")

    submissions_per_minute: int | None = Field(default=None, ge=0)
    max_running: int | None = Field(default=None, ge=0)


class TenantLimits:
    def __init__(
        self,
        *,
        default_tenant: str,
        keyless: Limits,
        tenants: Limits,
        overrides: dict[str, Limits] | None = None,
    ) -> None:
        self.default_tenant = default_tenant
        self.keyless = keyless
        self.tenants = tenants
        self.overrides = overrides or {}

    @classmethod
    def parse_overrides(cls, text: str, base: Limits) -> dict[str, Limits]:
        """``{"acme": {"submissions_per_minute": 100, "max_running": 20}}`` -> Limits;
        a field left out keeps the default. ValueError names what is wrong."""
        if not text.strip():
            return {}
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"DTQ_TENANT_LIMITS is not JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise ValueError("DTQ_TENANT_LIMITS must be a JSON object of tenant -> limits")
        out = {}
        for tenant, value in raw.items():
            try:
                parsed = _Override.model_validate(value)
            except ValidationError as exc:
                raise ValueError(f"DTQ_TENANT_LIMITS[{tenant!r}]: {exc}") from None
            out[str(tenant)] = Limits(
                submissions_per_minute=base.submissions_per_minute
                if parsed.submissions_per_minute is None
                else parsed.submissions_per_minute,
                max_running=base.max_running if parsed.max_running is None else parsed.max_running,
            )
        return out

    def for_tenant(self, tenant_id: str) -> Limits:
        if tenant_id in self.overrides:
            return self.overrides[tenant_id]
        return self.keyless if tenant_id == self.default_tenant else self.tenants
