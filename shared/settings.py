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

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.constants import MAX_ATTEMPTS
from shared.jobs import lease_timing
from shared.settings_groups import Connection, Providers, Telemetry
from shared.webhooks.targets import parse_callback_urls

ENV_PREFIX = "DTQ_"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="ignore",
        frozen=True,
        populate_by_name=True,
        env_ignore_empty=True,
    )

    # -- where things live ---------------------------------------------------------
    #: Folder of the embedded backend's SQLite file (relative to the working directory).
    data_dir: Path = Path(".dtq")
    #: Names of the job queues, one per priority (Service Bus queue names; the triggers
    #: bind to %DTQ_JOBS_QUEUE%, %DTQ_JOBS_QUEUE_HIGH%, %DTQ_JOBS_QUEUE_LOW%).
    jobs_queue: str = "dtq-jobs"
    jobs_queue_high: str = "dtq-jobs-high"
    jobs_queue_low: str = "dtq-jobs-low"
    #: Backend of each port.
    queue_backend: Literal["sqlite", "servicebus"] = "sqlite"
    status_backend: Literal["sqlite", "table"] = "sqlite"
    result_backend: Literal["sqlite", "cosmos"] = "sqlite"

    # -- Azure Service Bus (queue_backend = servicebus) --------------------------------
    #: A connection string (quick trials) ...
    servicebus_connection: str | None = Field(default=None, validation_alias="ServiceBusConnection")
    #: ... or identity-based, as the Functions trigger reads it: the namespace host name,
    #: and a user-assigned identity's client id.
    servicebus_namespace: str | None = Field(
        default=None, validation_alias="ServiceBusConnection__fullyQualifiedNamespace"
    )
    servicebus_client_id: str | None = Field(
        default=None, validation_alias="ServiceBusConnection__clientId"
    )

    # -- Azure Table storage (status_backend = table) --------------------------------
    #: Table of job status rows.
    status_table: str = Field(default="dtqjobs", pattern=r"^[A-Za-z][A-Za-z0-9]{2,62}$")
    #: Table of API keys (when the status backend is Table storage).
    api_keys_table: str = Field(default="dtqapikeys", pattern=r"^[A-Za-z][A-Za-z0-9]{2,62}$")
    #: Table of per-tenant rate counters (when the status backend is Table storage).
    rates_table: str = Field(default="dtqrates", pattern=r"^[A-Za-z][A-Za-z0-9]{2,62}$")
    #: Table of per-tenant running slots (when the status backend is Table storage).
    slots_table: str = Field(default="dtqslots", pattern=r"^[A-Za-z][A-Za-z0-9]{2,62}$")
    #: Table of idempotency keys (when the status backend is Table storage).
    idempotency_table: str = Field(default="dtqidempotency", pattern=r"^[A-Za-z][A-Za-z0-9]{2,62}$")
    #: Table of webhook secrets and the webhook outbox (when the status backend is Table storage).
    webhooks_table: str = Field(default="dtqwebhooks", pattern=r"^[A-Za-z][A-Za-z0-9]{2,62}$")
    #: Table of schedules and their tick claims (when the status backend is Table storage).
    schedules_table: str = Field(default="dtqschedules", pattern=r"^[A-Za-z][A-Za-z0-9]{2,62}$")
    #: Partitions per tenant; fixed for the life of a table (see docs/storage.md).
    status_table_shards: int = Field(default=8, ge=1, le=64)
    #: A connection string (Azurite, quick trials) ...
    table_connection: str | None = Field(default=None, validation_alias="TableStorageConnection")
    #: ... or identity-based: the table service URI, and a user-assigned identity's client id.
    table_service_uri: str | None = Field(
        default=None, validation_alias="TableStorageConnection__tableServiceUri"
    )
    table_client_id: str | None = Field(
        default=None, validation_alias="TableStorageConnection__clientId"
    )

    # -- Azure Cosmos DB (result_backend = cosmos) ------------------------------------
    cosmos_database: str = "dtq"
    cosmos_results_container: str = "results"
    #: How long results are kept (per-item TTL), in seconds.
    result_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=1)
    #: A connection string (AccountEndpoint=...;AccountKey=...;) ...
    cosmos_connection: str | None = Field(default=None, validation_alias="CosmosDBConnection")
    #: ... or identity-based: the account endpoint, and a user-assigned identity's client id.
    cosmos_account_endpoint: str | None = Field(
        default=None, validation_alias="CosmosDBConnection__accountEndpoint"
    )
    cosmos_client_id: str | None = Field(
        default=None, validation_alias="CosmosDBConnection__clientId"
    )

    # -- embedded queue (mirrors the Service Bus queue properties) -----------------
    #: Peek-lock duration in seconds (Service Bus lockDuration).
    queue_lock_seconds: float = Field(default=30.0, gt=0)
    #: Deliveries before a message is dead-lettered (Service Bus maxDeliveryCount).
    queue_max_delivery_count: int = Field(default=10, ge=1)
    #: Duplicate detection window in seconds (Service Bus duplicateDetectionHistoryTimeWindow).
    queue_duplicate_window_seconds: float = Field(default=600.0, ge=0)

    # -- jobs ----------------------------------------------------------------------
    #: Attempts a job gets when its submitter does not say.
    default_max_attempts: int = Field(default=3, ge=1, le=MAX_ATTEMPTS)
    #: Exponential backoff between attempts: base * 2**(attempt-1), capped, full jitter.
    retry_backoff_base_seconds: float = Field(default=1.0, ge=0)
    retry_backoff_max_seconds: float = Field(default=60.0, ge=0)
    #: Longest a job attempt may run; with the outage backoff cap and a margin to settle
    #: it stays below host.json functionTimeout (tests/unit/test_timing_budget.py).
    job_timeout_seconds: float = Field(default=540.0, gt=0)
    #: How long a running attempt's lease lasts unless its run renews it, in seconds
    #: (unset: twice queue_lock_seconds); another delivery of the attempt takes it over
    #: only after it lapsed (docs/retries.md).
    lease_seconds: float | None = Field(default=None, gt=0)
    #: How often a run renews its lease, in seconds (unset: a quarter of the lease).
    lease_renew_seconds: float | None = Field(default=None, gt=0)
    #: When a backend is down while a job is handled, the worker waits before handing the
    #: message back: base * 2**(delivery-1) seconds, capped (lock renewal continues).
    outage_backoff_base_seconds: float = Field(default=1.0, ge=0)
    outage_backoff_max_seconds: float = Field(default=60.0, ge=0)
    #: Longest wait a provider's Retry-After may impose before the next attempt.
    retry_after_max_seconds: float = Field(default=3600.0, ge=0)
    #: How often a running job's status is read to notice a cancellation between its
    #: progress reports, in seconds (0: only at progress reports).
    cancel_check_seconds: float = Field(default=2.0, ge=0)
    #: How long the message of a job whose type or priority is paused waits before it
    #: is delivered again (one message re-sent per held job per interval; docs/pauses.md).
    pause_recheck_seconds: float = Field(default=5.0, gt=0)
    #: How long a worker trusts the pause markers it read before reading them again.
    pause_cache_seconds: float = Field(default=2.0, ge=0)
    #: How long finished jobs (completed, failed, cancelled) keep their status rows, in
    #: seconds; the retention timer deletes older ones (results expire by their own TTL).
    retention_seconds: float = Field(default=7 * 24 * 3600.0, gt=0)
    #: When the retention timer runs (NCRONTAB with seconds, as Azure Functions reads it).
    retention_schedule: str = "0 15 * * * *"
    #: When the reconciler runs: it fails jobs whose message the queue dead-lettered on
    #: its own (NCRONTAB with seconds; every minute by default).
    reconcile_schedule: str = "30 * * * * *"
    #: How long an Idempotency-Key stands for the job it created, in seconds.
    idempotency_window_seconds: float = Field(default=86400.0, gt=0)
    #: Tenant of requests that carry no credentials (the keyless local host).
    default_tenant: str = "local"
    #: Limits of tenants that use API keys (0: unlimited); see docs/tenants.md.
    tenant_submissions_per_minute: int = Field(default=10, ge=0)
    tenant_max_running: int = Field(default=5, ge=0)
    #: Limits of the keyless default tenant (the local host): unlimited by default.
    default_tenant_submissions_per_minute: int = Field(default=0, ge=0)
    default_tenant_max_running: int = Field(default=0, ge=0)
    #: Limits of particular tenants, as JSON:
    #: {"acme": {"submissions_per_minute": 100, "max_running": 20}}
    tenant_limits: str = ""
    #: Refuse requests without an API key (anywhere but a loopback local host).
    require_api_keys: bool = False
    #: Accept the Static Web Apps client principal header as credentials (only behind
    #: Static Web Apps, which sets it and strips it from incoming requests).
    trust_client_principal: bool = False
    #: Ids (comma-separated) of the API keys that are the operator's: they may read the
    #: deployment's own figures (/api/metrics, queue depths, workers); docs/observability.md.
    operator_key_ids: str = Field(
        default="", pattern=r"^\s*([0-9a-f]{12}\s*(,\s*[0-9a-f]{12}\s*)*)?$"
    )
    #: Modules (comma-separated) whose ``register(registry, settings)`` adds job types;
    #: packages can also declare the entry point group ``dtq.job_types`` (docs/job-types.md).
    job_type_modules: str = ""
    #: Host names (comma-separated) the local host answers to besides localhost, the
    #: loopback addresses and the address it is bound to; ``*`` for any (docs/security.md).
    allowed_hosts: str = ""
    #: Longest a client may take to send a request's line and headers to the local host;
    #: past it the connection is closed (a slow client cannot hold it for ever).
    request_head_timeout_seconds: float = Field(default=10.0, gt=0)

    # -- providers: the external APIs of the built-in job types ----------------------
    #: Seconds to wait for a provider (connect, read, each); past it the attempt is retried.
    provider_timeout_seconds: float = Field(default=10.0, gt=0)
    #: Open-Meteo geocoding and forecast APIs (weather).
    weather_geocoding_url: str = "https://geocoding-api.open-meteo.com"
    weather_forecast_url: str = "https://api.open-meteo.com"
    #: QuoteSlate API (quote): GET /api/quotes/random?tags=...
    quote_api_url: str = "https://quoteslate.vercel.app"
    #: Frankfurter API (exchange_rate): ECB reference rates.
    exchange_rate_api_url: str = "https://api.frankfurter.dev"
    #: GitHub REST API (github_user), and an optional token that raises the rate limit.
    github_api_url: str = "https://api.github.com"
    github_token: str | None = Field(default=None, repr=False)
    #: Open-Meteo API key (its commercial plan), sent as ``apikey``; with it, the default
    #: URLs above become Open-Meteo's customer hosts (docs/job-types.md).
    weather_api_key: str | None = Field(default=None, repr=False)
    #: dtq's own quotas per provider, shared by every worker on one store: requests per
    #: fixed window (``500/minute,4000/hour``), ``none`` for none; a job over one waits,
    #: unspent (shared/quotas.py). The defaults stay below each free API's own limits.
    weather_quota: str = "500/minute,4000/hour"
    quote_quota: str = "90/15minute"
    exchange_rate_quota: str = "120/minute"
    #: Unset: 55/hour without a GitHub token, 4500/hour with one.
    github_quota: str | None = None

    # -- live updates: Azure SignalR Service (shared/push.py) -------------------------
    #: The SignalR connection the Functions bindings use; dtq publishes job events
    #: only when it (or its identity-based serviceUri) is set.
    signalr_connection: str | None = Field(
        default=None, validation_alias="AzureSignalRConnectionString", repr=False
    )
    signalr_service_uri: str | None = Field(
        default=None, validation_alias="AzureSignalRConnectionString__serviceUri"
    )
    #: The hub the UI connects to.
    signalr_hub: str = Field(default="dtq", pattern=r"^[A-Za-z][A-Za-z0-9_]{0,127}$")
    #: The queue that carries job changes to the push function.
    events_queue: str = "dtq-events"

    # -- completion webhooks (shared/webhooks/, docs/api.md) ---------------------------
    #: The queue that carries webhook deliveries (attempts, and their retries).
    webhooks_queue: str = "dtq-webhooks"
    #: Call callback URLs on loopback and private addresses too (tests, local use);
    #: link-local (cloud metadata), multicast and reserved ones stay refused.
    webhook_allow_private: bool = False
    #: Attempts at one delivery, and the backoff between them: base * 5**(n-1) seconds
    #: after attempt n, capped, jittered down by up to half (defaults: about a day).
    webhook_max_attempts: int = Field(default=8, ge=1, le=20)
    webhook_backoff_base_seconds: float = Field(default=10.0, ge=0)
    #: At most a day: the last wait's message must still be in the webhooks queue when
    #: it is due, and the queue drops messages after 2 days (infra/bicep, P2D).
    webhook_backoff_max_seconds: float = Field(default=36000.0, ge=0, le=86400)
    #: Longest one attempt may take, all told (name look-up, connect, TLS, send, the
    #: answer's headers), in seconds.
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    #: When the sweep re-sends deliveries whose message may be lost (NCRONTAB).
    webhook_sweep_schedule: str = "45 * * * * *"
    #: Each tenant's default callback URL, as JSON: {"acme": "https://acme.example/hook"}
    tenant_callback_urls: str = ""

    # -- recurring schedules (shared/schedules/, docs/schedules.md) --------------------
    #: When the fire_schedules timer looks for due ticks (NCRONTAB).
    schedules_timer_schedule: str = "0 * * * * *"
    #: A tick seen later than this is missed, and its schedule's misfire policy applies.
    schedule_misfire_grace_seconds: float = Field(default=120.0, ge=60)

    # -- telemetry (docs/observability.md) -------------------------------------------
    #: Application Insights: traces, metrics and logs go there when set (Azure).
    applicationinsights_connection_string: str | None = Field(
        default=None, validation_alias="APPLICATIONINSIGHTS_CONNECTION_STRING", repr=False
    )
    #: Local traces: each process appends its spans as JSON lines in this folder, and
    #: ``dtq trace JOB_ID`` shows a job's trace from it. Empty: no local traces.
    traces_dir: Path | None = None
    #: ``text`` for people, ``json`` for log pipelines (one object per line, with job_id
    #: and trace_id).
    log_format: Literal["text", "json"] = "text"

    # -- local host ----------------------------------------------------------------
    #: Seconds in-flight jobs get to finish on shutdown before their messages are abandoned.
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)
    #: Logging level of the local host and workers.
    log_level: str = "INFO"

    @property
    def pause_timing(self) -> tuple[float, float]:
        """(re-check interval, cache time) of the pauses, in seconds."""
        return self.pause_recheck_seconds, self.pause_cache_seconds

    @property
    def lease_timing(self) -> tuple[float, float]:
        """(lease duration, renew interval) in seconds, with the defaults filled in."""
        return lease_timing(self.queue_lock_seconds, self.lease_seconds, self.lease_renew_seconds)

    @model_validator(mode="after")
    def _lease_renewed_within_itself(self) -> Settings:
        lease_timing(self.queue_lock_seconds, self.lease_seconds, self.lease_renew_seconds)
        return self  # lease_timing raised ValueError if the renew interval is not below it

    @model_validator(mode="after")
    def _callback_urls_readable(self) -> Settings:
        self.callback_urls  # noqa: B018 - raises ValueError naming the tenant's URL
        return self

    @property
    def callback_urls(self) -> dict[str, str]:
        """Each tenant's default callback URL (DTQ_TENANT_CALLBACK_URLS)."""
        return parse_callback_urls(self.tenant_callback_urls, self.webhook_allow_private)

    @model_validator(mode="after")
    def _quotas_readable(self) -> Settings:
        self.providers.quotas()  # raises ValueError naming the quota it cannot read
        return self

    # -- the groups each component receives (shared/settings_groups.py) -------------
    @property
    def table_storage(self) -> Connection:
        return Connection(self.table_connection, self.table_service_uri, self.table_client_id)

    @property
    def service_bus(self) -> Connection:
        return Connection(
            self.servicebus_connection, self.servicebus_namespace, self.servicebus_client_id
        )

    @property
    def cosmos(self) -> Connection:
        return Connection(
            self.cosmos_connection, self.cosmos_account_endpoint, self.cosmos_client_id
        )

    @property
    def telemetry(self) -> Telemetry:
        return Telemetry(
            self.applicationinsights_connection_string,
            self.traces_dir,
            self.data_dir,
            self.log_level,
            self.log_format,
        )

    @property
    def providers(self) -> Providers:
        return Providers(
            **{
                name: getattr(self, name)
                for name in Providers.__dataclass_fields__
                if name != "timeout_seconds"
            },
            timeout_seconds=self.provider_timeout_seconds,
        )

    @property
    def push_enabled(self) -> bool:
        """Job changes go to SignalR (Azure): a SignalR connection is configured."""
        return bool(self.signalr_connection or self.signalr_service_uri)

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "dtq.sqlite3"

    def app_setting(self, name: str) -> str:
        """Resolve a binding expression's ``%name%`` as the Functions host would."""
        field = field_for(name)
        if field is not None and getattr(self, field) is not None:
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
                field = field_for(key)
                if field is not None and key not in os.environ and value != "":
                    values[field] = value
        values.update(overrides)
        return cls(**values)


def env_name(field: str) -> str:
    """The environment variable (app setting) a field is read from."""
    alias = Settings.model_fields[field].validation_alias
    return alias if isinstance(alias, str) else f"{ENV_PREFIX}{field.upper()}"


def field_for(name: str) -> str | None:
    """The field an environment variable (app setting) sets, if any (case-insensitive)."""
    wanted = name.lower()
    for field in Settings.model_fields:
        if env_name(field).lower() == wanted:
            return field
    return None


#: The prefix of the app settings that override host.json, as the Functions host reads
#: them: ``AzureFunctionsJobHost__extensions__serviceBus__maxAutoLockRenewalDuration``.
HOST_JSON_OVERRIDE_PREFIX = "AzureFunctionsJobHost__"


def host_json_overrides(
    local_settings: Path | None = Path("local.settings.json"),
) -> dict[str, str]:
    """The app settings that override host.json (environment over
    ``local.settings.json`` Values), for the local host to apply as the Functions host
    does."""
    values: dict[str, str] = {}
    if local_settings is not None and local_settings.is_file():
        file_values = json.loads(local_settings.read_text()).get("Values", {})
        values.update({k: str(v) for k, v in file_values.items() if v != ""})
    values.update(os.environ)
    prefix = HOST_JSON_OVERRIDE_PREFIX.lower()
    return {k: v for k, v in values.items() if k.lower().startswith(prefix)}


def environment_overrides(settings: Settings) -> dict[str, str]:
    """The settings as environment variables, for child processes of the local host."""
    return {
        env_name(field): str(getattr(settings, field))
        for field in Settings.model_fields
        if getattr(settings, field) is not None
    }
