"""Every setting dtq reads, in one typed object.

Settings come from environment variables (the Functions host turns app settings
and ``local.settings.json`` into environment variables; the local host reads
``local.settings.json`` itself, beneath the real environment). Each name here
appears in ``local.settings.example.json`` and ``docs/configuration.md``.
No other module reads the environment.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "DTQ_"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    # -- where things live ---------------------------------------------------------
    #: Folder of the embedded backend's SQLite file (relative to the working directory).
    data_dir: Path = Path(".dtq")
    #: Name of the job queue (a Service Bus queue name; also the trigger's %DTQ_JOBS_QUEUE%).
    jobs_queue: str = "dtq-jobs"
    #: Backend of each port.
    queue_backend: Literal["sqlite"] = "sqlite"
    status_backend: Literal["sqlite"] = "sqlite"
    result_backend: Literal["sqlite"] = "sqlite"

    # -- embedded queue (mirrors the Service Bus queue properties) -----------------
    #: Peek-lock duration in seconds (Service Bus lockDuration).
    queue_lock_seconds: float = Field(default=30.0, gt=0)
    #: Deliveries before a message is dead-lettered (Service Bus maxDeliveryCount).
    queue_max_delivery_count: int = Field(default=10, ge=1)
    #: Duplicate detection window in seconds (Service Bus duplicateDetectionHistoryTimeWindow).
    queue_duplicate_window_seconds: float = Field(default=600.0, ge=0)

    # -- jobs ----------------------------------------------------------------------
    #: Attempts a job gets when its submitter does not say.
    default_max_attempts: int = Field(default=3, ge=1, le=100)
    #: Exponential backoff between attempts: base * 2**(attempt-1), capped, full jitter.
    retry_backoff_base_seconds: float = Field(default=1.0, ge=0)
    retry_backoff_max_seconds: float = Field(default=60.0, ge=0)
    #: Longest a job attempt may run; keep it below host.json functionTimeout (10 min).
    job_timeout_seconds: float = Field(default=540.0, gt=0)
    #: Tenant of requests that carry no credentials (the keyless local host).
    default_tenant: str = "local"

    # -- local host ----------------------------------------------------------------
    #: Seconds in-flight jobs get to finish on shutdown before their messages are abandoned.
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)
    #: Logging level of the local host and workers.
    log_level: str = "INFO"

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "dtq.sqlite3"

    def app_setting(self, name: str) -> str:
        """Resolve a binding expression's ``%name%`` as the Functions host would."""
        if name.upper().startswith(ENV_PREFIX):
            field = name[len(ENV_PREFIX) :].lower()
            if field in type(self).model_fields:
                return str(getattr(self, field))
        value = os.environ.get(name)
        if value is None:
            raise KeyError(f"app setting {name!r} is not set")
        return value

    @classmethod
    def load(
        cls, local_settings: Path | None = Path("local.settings.json"), **overrides: Any
    ) -> Settings:
        """Settings from the environment, over ``local.settings.json`` Values if present."""
        values: dict[str, Any] = {}
        if local_settings is not None and local_settings.is_file():
            file_values = json.loads(local_settings.read_text()).get("Values", {})
            for key, value in file_values.items():
                if key.upper().startswith(ENV_PREFIX) and key not in os.environ:
                    values[key[len(ENV_PREFIX) :].lower()] = value
        values.update(overrides)
        return cls(**values)


def environment_overrides(settings: Settings) -> dict[str, str]:
    """The settings as environment variables, for child processes of the local host."""
    out: dict[str, str] = {}
    for name in type(settings).model_fields:
        out[f"{ENV_PREFIX}{name.upper()}"] = str(getattr(settings, name))
    return out
