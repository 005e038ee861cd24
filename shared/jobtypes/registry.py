"""The registry of job types: name -> payload model + async handler."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from shared.errors import FieldError, ValidationFailed
from shared.jobtypes.context import JobContext

if TYPE_CHECKING:
    from shared.providers.client import ProviderClient
    from shared.settings import Settings

Handler = Callable[[Any, JobContext], Awaitable[Any]]


#: What a job type's name may be: it is a path segment (``/api/v1/pauses/job_type/x``),
#: a metric label and part of storage keys, so nothing there needs escaping.
JOB_TYPE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


@dataclass(frozen=True)
class JobType:
    name: str
    payload_model: type[BaseModel]
    handler: Handler
    description: str = ""

    def parse(self, payload: Any) -> BaseModel:
        """The payload as its model, or ValidationFailed naming each bad field."""
        if not isinstance(payload, dict):
            raise ValidationFailed(
                "payload must be a JSON object", [FieldError("payload", "must be an object")]
            )
        try:
            return self.payload_model.model_validate(payload)
        except ValidationError as exc:
            errors = [
                FieldError(
                    ".".join(["payload", *(str(p) for p in err["loc"])]),
                    err["msg"],
                )
                for err in exc.errors()
            ]
            raise ValidationFailed(
                f"payload is not valid for job type {self.name!r}", errors
            ) from None

    def describe(self) -> dict[str, Any]:
        return {
            "job_type": self.name,
            "description": self.description,
            "payload_schema": self.payload_model.model_json_schema(),
        }


class JobTypeRegistry:
    """The job types a deployment runs. A job type module's ``register(registry)`` gets
    it with the deployment's ``settings`` and ``http``, the one pooled HTTP client with
    each provider's quotas (shared/providers/client.py), as the built-in providers do."""

    def __init__(
        self, settings: Settings | None = None, http: ProviderClient | None = None
    ) -> None:
        self._types: dict[str, JobType] = {}
        self._settings = settings
        self._http = http

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            raise RuntimeError("this registry was made without the deployment's settings")
        return self._settings

    @property
    def http(self) -> ProviderClient:
        if self._http is None:
            raise RuntimeError("this registry was made without an HTTP client")
        return self._http

    def register(
        self, name: str, payload_model: type[BaseModel], handler: Handler, description: str = ""
    ) -> JobType:
        if not JOB_TYPE_NAME.fullmatch(name):
            raise ValueError(
                f"job type name {name!r}: 1 to 100 of A-Za-z0-9_.- starting with a letter or"
                " a digit (it goes into URL paths, metric labels and storage keys)"
            )
        if name in self._types:
            raise ValueError(f"job type {name!r} is already registered")
        job_type = JobType(
            name, payload_model, handler, description or (handler.__doc__ or "").strip()
        )
        self._types[name] = job_type
        return job_type

    def job_type(
        self, name: str, payload_model: type[BaseModel], description: str = ""
    ) -> Callable[[Handler], Handler]:
        """Decorator form of :meth:`register`."""

        def decorate(handler: Handler) -> Handler:
            self.register(name, payload_model, handler, description)
            return handler

        return decorate

    def get(self, name: str) -> JobType:
        try:
            return self._types[name]
        except KeyError:
            valid = ", ".join(sorted(self._types))
            raise ValidationFailed(
                f"unknown job type {name!r}; valid types are: {valid}",
                [FieldError("job_type", f"must be one of: {valid}")],
            ) from None

    def names(self) -> list[str]:
        return sorted(self._types)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._types[n] for n in self.names())

    def __contains__(self, name: object) -> bool:
        return name in self._types


def default_registry(
    settings: Settings | None = None, http: ProviderClient | None = None
) -> JobTypeRegistry:
    """A registry holding the offline built-in job types (echo, simulate)."""
    from shared.jobtypes import builtin

    registry = JobTypeRegistry(settings, http)
    builtin.register(registry)
    return registry
