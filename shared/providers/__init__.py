"""Providers: the built-in job types that call external APIs (weather, quote,
exchange_rate, github_user), all through one pooled HTTP client (:mod:`.client`)."""

from __future__ import annotations

from shared.jobtypes import JobTypeRegistry
from shared.providers import exchange_rates, github_users, quotes, weather
from shared.providers.client import ProviderClient
from shared.settings import Settings

__all__ = ["ProviderClient", "register"]


def register(registry: JobTypeRegistry, settings: Settings, client: ProviderClient) -> None:
    weather.register(registry, settings, client)
    quotes.register(registry, settings, client)
    exchange_rates.register(registry, settings, client)
    github_users.register(registry, settings, client)
