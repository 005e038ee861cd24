"""Providers: the built-in job types that call external APIs (weather, quote,
exchange_rate, github_user). Each is a job type module like a user's own: its
``register(registry)`` uses its group of the registry's settings and its pooled HTTP client
(:mod:`.client`), and the runtime loads them as it loads the user's (MODULES)."""

from __future__ import annotations

from shared.providers.client import ProviderClient

__all__ = ["MODULES", "ProviderClient"]

#: The providers' modules, loaded before the user's own (shared.jobtypes.discovery).
MODULES = (
    "shared.providers.weather",
    "shared.providers.quotes",
    "shared.providers.exchange_rates",
    "shared.providers.github_users",
)
