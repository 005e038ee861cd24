"""The four provider job types against a local fake of their APIs (real sockets):
normalised results, progress milestones, and every failure sorted into retryable or
permanent the same way."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from shared.errors import (
    JobFailure,
    ProviderBadResponse,
    ProviderNotFound,
    ProviderRateLimited,
    ProviderServerError,
    ProviderTimeout,
    ProviderUnavailable,
    ValidationFailed,
)
from shared.jobtypes import JobContext, JobTypeRegistry
from shared.providers import ProviderClient
from shared.runtime import build_registry
from shared.settings import Settings
from tests.support.fake_providers import FakeProviders
from tests.support.processes import free_port


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProviders]:
    server = FakeProviders().start()
    server.slow_seconds = 1.5
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def client() -> AsyncIterator[ProviderClient]:
    made = ProviderClient(timeout_seconds=0.5)
    yield made
    await made.close()


def registry_for(client: ProviderClient, **settings: Any) -> JobTypeRegistry:
    return build_registry(Settings.load(None, **settings), client)


@pytest.fixture
def registry(fake: FakeProviders, client: ProviderClient) -> Iterator[JobTypeRegistry]:
    fake.reset()
    yield registry_for(client, **fake.settings())
    fake.reset()


class Progress:
    def __init__(self) -> None:
        self.reports: list[tuple[int, str | None]] = []

    async def sink(self, progress: int, stage: str | None) -> bool:
        self.reports.append((progress, stage))
        return False


async def run(registry: JobTypeRegistry, job_type: str, payload: dict[str, Any]) -> Any:
    kind = registry.get(job_type)
    progress = Progress()
    ctx = JobContext(
        job_id="j1",
        tenant_id="t",
        job_type=job_type,
        attempt=1,
        max_attempts=3,
        trace_id="0" * 32,
        deadline=None,
        _sink=progress.sink,
    )
    result = await kind.handler(kind.parse(payload), ctx)
    steps = [p for p, _ in progress.reports]
    assert steps == sorted(steps) and steps[-1] == 95, progress.reports
    assert progress.reports[-1][1] == "storing"
    return result


WEATHER = {"city": "Coimbra", "country_code": "pt"}


async def test_weather_geocodes_in_the_country_then_reads_current_conditions(
    registry: JobTypeRegistry, fake: FakeProviders
) -> None:
    result = await run(registry, "weather", WEATHER)
    assert result["country_code"] == "PT" and result["region"] == "Coimbra"
    assert (result["latitude"], result["longitude"]) == (40.2, -8.4), "the PT match, not the US one"
    assert result["temperature"] == 15.0 and result["conditions"] == "overcast"
    assert result["units"] == {"temperature": "°C", "wind_speed": "km/h"}
    [forecast] = fake.requests("forecast")
    assert forecast.query["latitude"] == ["40.2"] and "temperature_unit" not in forecast.query
    assert forecast.headers["User-Agent"].startswith("dtq/")


async def test_weather_in_imperial_units(registry: JobTypeRegistry, fake: FakeProviders) -> None:
    result = await run(registry, "weather", {**WEATHER, "units": "imperial"})
    assert result["temperature"] == 59.0
    assert result["units"] == {"temperature": "°F", "wind_speed": "mph"}
    [forecast] = fake.requests("forecast")
    assert forecast.query["temperature_unit"] == ["fahrenheit"]
    assert forecast.query["wind_speed_unit"] == ["mph"]


@pytest.mark.parametrize(
    "payload",
    [{"city": "Nowhere", "country_code": "PT"}, {"city": "Coimbra", "country_code": "FR"}],
)
async def test_weather_for_an_unknown_city_is_a_permanent_not_found(
    registry: JobTypeRegistry, fake: FakeProviders, payload: dict[str, str]
) -> None:
    with pytest.raises(ProviderNotFound) as info:
        await run(registry, "weather", payload)
    assert info.value.retryable is False and payload["city"] in info.value.message
    assert fake.requests("forecast") == [], "no forecast for a place not found"


async def test_quote_of_a_category_is_normalised(
    registry: JobTypeRegistry, fake: FakeProviders
) -> None:
    result = await run(registry, "quote", {"category": "wisdom"})
    assert result == {"quote": "Know thyself.", "author": "Socrates", "categories": ["wisdom"]}
    assert fake.requests("quote")[0].query == {"tags": ["wisdom"]}
    await run(registry, "quote", {})
    assert fake.requests("quote")[1].query == {}, "no category, no filter"


async def test_exchange_rates_convert_the_amount(
    registry: JobTypeRegistry, fake: FakeProviders
) -> None:
    result = await run(
        registry, "exchange_rate", {"base": "usd", "symbols": ["eur", "GBP", "USD"], "amount": 10}
    )
    assert result["base"] == "USD" and result["date"] == "2026-11-20"
    assert result["rates"] == {"EUR": 0.9, "GBP": 0.8, "USD": 1.0}
    assert result["converted"] == {"EUR": 9.0, "GBP": 8.0, "USD": 10.0}
    assert fake.requests("exchange_rate")[0].query == {"base": ["USD"], "symbols": ["EUR,GBP"]}


async def test_an_unknown_currency_is_a_permanent_not_found(registry: JobTypeRegistry) -> None:
    with pytest.raises(ProviderNotFound):
        await run(registry, "exchange_rate", {"base": "USD", "symbols": ["XXX"]})


def test_currency_codes_are_validated_before_any_request(registry: JobTypeRegistry) -> None:
    with pytest.raises(ValidationFailed) as info:
        registry.get("exchange_rate").parse({"base": "USD", "symbols": ["EURO"]})
    assert info.value.errors[0].field == "payload.symbols.0"


async def test_github_user_profile_is_normalised(
    registry: JobTypeRegistry, fake: FakeProviders
) -> None:
    result = await run(registry, "github_user", {"username": "octo-cat"})
    assert result["login"] == "octo-cat" and result["public_repos"] == 8
    assert result["blog"] is None and result["profile_url"] == "https://github.com/octo-cat"
    assert "node_id" not in result, "the fields a UI shows, not the raw answer"
    [seen] = fake.requests("github")
    assert seen.path == "/users/octo-cat"
    assert seen.headers["Accept"] == "application/vnd.github+json"
    assert "Authorization" not in seen.headers


async def test_github_token_is_sent_when_set(fake: FakeProviders, client: ProviderClient) -> None:
    fake.reset()
    registry = registry_for(client, **fake.settings(), github_token="ghp_test")
    await run(registry, "github_user", {"username": "octocat"})
    assert fake.requests("github")[0].headers["Authorization"] == "Bearer ghp_test"


@pytest.mark.parametrize(
    "username", ["../admin", "a/b", "-start", "end-", "dou--ble", "x" * 40, "", "a?b=c", "a%2fb"]
)
def test_github_usernames_are_checked_before_any_request(
    registry: JobTypeRegistry, fake: FakeProviders, username: str
) -> None:
    with pytest.raises(ValidationFailed) as info:
        registry.get("github_user").parse({"username": username})
    assert info.value.errors[0].field == "payload.username"
    assert fake.requests("github") == []


async def test_a_missing_github_user_is_a_permanent_not_found(registry: JobTypeRegistry) -> None:
    with pytest.raises(ProviderNotFound, match="ghost"):
        await run(registry, "github_user", {"username": "ghost"})


async def test_githubs_exhausted_rate_limit_is_retried_after_its_reset(
    registry: JobTypeRegistry, fake: FakeProviders
) -> None:
    fake.set("github", "github_rate_limit")
    with pytest.raises(ProviderRateLimited) as info:
        await run(registry, "github_user", {"username": "octocat"})
    assert info.value.retryable and info.value.retry_after is not None
    assert 100 <= info.value.retry_after <= 121
    assert "DTQ_GITHUB_TOKEN" in info.value.message


# --- every provider, every failure ---------------------------------------------------

CALLS = {
    "geocoding": ("weather", WEATHER),
    "forecast": ("weather", WEATHER),
    "quote": ("quote", {"category": "life"}),
    "exchange_rate": ("exchange_rate", {"base": "EUR", "symbols": ["USD"]}),
    "github": ("github_user", {"username": "octocat"}),
}
FAILURES: dict[str, tuple[type[JobFailure], bool, float | None]] = {
    "slow": (ProviderTimeout, True, None),
    "429": (ProviderRateLimited, True, 7.0),
    "500": (ProviderServerError, True, None),
    "malformed": (ProviderBadResponse, True, None),
    "404": (ProviderNotFound, False, None),
}


@pytest.mark.parametrize("mode", sorted(FAILURES))
@pytest.mark.parametrize("api", sorted(CALLS))
async def test_each_failure_of_each_provider_is_sorted(
    registry: JobTypeRegistry, fake: FakeProviders, api: str, mode: str
) -> None:
    error, retryable, retry_after = FAILURES[mode]
    fake.set(api, mode)
    job_type, payload = CALLS[api]
    with pytest.raises(error) as info:
        await run(registry, job_type, payload)
    assert info.value.retryable is retryable
    assert info.value.retry_after == retry_after, "Retry-After is carried to the retry policy"
    assert fake.requests(api), "the request was made"


async def test_an_unreachable_provider_is_retryable(client: ProviderClient) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    registry = registry_for(client, quote_api_url=closed)
    with pytest.raises(ProviderUnavailable) as info:
        await run(registry, "quote", {})
    assert info.value.retryable


async def test_one_pooled_client_serves_every_call(
    registry: JobTypeRegistry, client: ProviderClient
) -> None:
    await run(registry, "quote", {})
    first = client._client()
    await run(registry, "github_user", {"username": "octocat"})
    assert client._client() is first
