"""The settings by concern: what each component receives, instead of all of them.

:class:`shared.settings.Settings` reads the environment in one place, with the app
settings' names as Azure and ``local.settings.json`` spell them; each property there
builds one of these groups, and a component is given only its group:

- :class:`Connection`: one Azure resource's connection, as the Functions bindings read
  it (a connection string, or an endpoint and a managed identity), for
  ``shared/adapters/azure/connections.py``;
- :class:`Telemetry`: where traces, metrics and logs go (``shared/telemetry.py``,
  ``shared/traces.py``);
- :class:`Providers`: the external APIs of the built-in job types, their keys and
  quotas (``shared/providers/``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shared.quotas import Quota, parse_quotas


@dataclass(frozen=True)
class Connection:
    """An Azure resource's connection: ``connection_string`` (quick trials, emulators),
    or ``endpoint`` (the namespace, service URI or account endpoint) with a managed
    identity (``client_id`` for a user-assigned one)."""

    connection_string: str | None = None
    endpoint: str | None = None
    client_id: str | None = None


@dataclass(frozen=True)
class Telemetry:
    #: Application Insights; None: nothing is exported to Azure.
    applicationinsights_connection_string: str | None
    #: Local traces as JSON lines (the local host); None: none kept.
    traces_dir: Path | None
    #: The embedded backend's folder (where the local host notes its traces folder).
    data_dir: Path
    log_level: str
    log_format: str


@dataclass(frozen=True)
class Providers:
    timeout_seconds: float
    weather_geocoding_url: str
    weather_forecast_url: str
    weather_api_key: str | None
    quote_api_url: str
    exchange_rate_api_url: str
    github_api_url: str
    github_token: str | None
    weather_quota: str
    quote_quota: str
    exchange_rate_quota: str
    #: None: 55/hour without a GitHub token, 4500/hour with one.
    github_quota: str | None

    def quotas(self) -> dict[str, tuple[Quota, ...]]:
        """dtq's quotas of each provider (shared/quotas.py), by provider name."""
        github = self.github_quota
        if github is None:
            github = "4500/hour" if self.github_token else "55/hour"
        return {
            "open_meteo": parse_quotas(self.weather_quota),
            "quoteslate": parse_quotas(self.quote_quota),
            "frankfurter": parse_quotas(self.exchange_rate_quota),
            "github": parse_quotas(github),
        }
