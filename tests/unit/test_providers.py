"""The four provider job types against a local fake of their APIs (real sockets):
normalised results, progress milestones, and every failure sorted into retryable or
permanent the same way."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, TypeVar

import httpx
import pytest

from shared.composition import build_registry
from shared.errors import ValidationFailed
from shared.jobtypes import JobContext, JobTypeRegistry
from shared.jobtypes.errors import (
    JobDeferred,
    JobFailure,
    ProviderBadResponse,
    ProviderNotFound,
    ProviderRateLimited,
    ProviderRejected,
    ProviderServerError,
    ProviderTimeout,
    ProviderUnavailable,
)
from shared.providers import ProviderClient
from shared.settings import Settings
from tests.support.fake_providers import MOVED, FakeProviders
from tests.support.processes import free_port


@pytest.fixture
async def client() -> AsyncIterator[ProviderClient]:
    made = ProviderClient(timeout_seconds=0.5)
    yield made
    await made.close()


def registry_for(client: ProviderClient, **settings: Any) -> JobTypeRegistry:
    return build_registry(Settings.load(None, **settings), client)


@pytest.fixture
def registry(fake_providers: FakeProviders, client: ProviderClient) -> Iterator[JobTypeRegistry]:
    fake_providers.reset()
    fake_providers.slow_seconds = 1.5  # past the client's timeout of 0.5 s
    yield registry_for(client, **fake_providers.settings())
    fake_providers.reset()


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


async def github_user(registry: JobTypeRegistry, username: str = "octocat") -> Any:
    return await run(registry, "github_user", {"username": username})


Failure = TypeVar("Failure", bound=JobFailure)


async def github_fails(
    registry: JobTypeRegistry,
    fake_providers: FakeProviders,
    mode: str,
    error: type[Failure],
    match: str | None = None,
) -> Failure:
    """What the github_user job raises (``error``) while GitHub answers in ``mode``."""
    fake_providers.set("github", mode)
    with pytest.raises(error, match=match) as info:
        await github_user(registry)
    return info.value


WEATHER = {"city": "Coimbra", "country_code": "pt"}


async def test_weather_geocodes_in_the_country_then_reads_current_conditions(
    registry: JobTypeRegistry, fake_providers: FakeProviders
) -> None:
    result = await run(registry, "weather", WEATHER)
    assert result["country_code"] == "PT" and result["region"] == "Coimbra"
    assert (result["latitude"], result["longitude"]) == (40.2, -8.4), "the PT match, not the US one"
    assert result["temperature"] == 15.0 and result["conditions"] == "overcast"
    assert result["units"] == {"temperature": "°C", "wind_speed": "km/h"}
    assert result["observed_at"] == "2026-11-23T10:00:00Z", "in UTC, as every API time"
    assert result["observed_at_local"] == "2026-11-23T10:00:00+00:00", "local, with its offset"
    assert "Open-Meteo.com" in result["attribution"]["text"], "CC BY 4.0 asks for it"
    [search] = fake_providers.requests("geocoding")
    assert search.query["countryCode"] == ["PT"] and search.query["count"] == ["100"]
    [forecast] = fake_providers.requests("forecast")
    assert forecast.query["latitude"] == ["40.2"] and "temperature_unit" not in forecast.query
    assert forecast.headers["User-Agent"].startswith("dtq/")
    assert "apikey" not in forecast.query, "no key: the free API"


async def test_a_city_that_other_countries_outrank_is_found_in_its_own(
    registry: JobTypeRegistry,
) -> None:
    """Lancaster, GB is the 19th Lancaster: a search for 10 without the country misses it."""
    result = await run(registry, "weather", {"city": "Lancaster", "country_code": "GB"})
    assert (result["country_code"], result["region"]) == ("GB", "England")


async def test_the_observed_time_carries_the_places_offset(
    registry: JobTypeRegistry, fake_providers: FakeProviders, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.providers import weather

    original = weather._Forecast.model_validate

    def west(data: Any, **kw: Any) -> Any:
        return original({**data, "utc_offset_seconds": -18000}, **kw)

    monkeypatch.setattr(weather._Forecast, "model_validate", west)
    result = await run(registry, "weather", WEATHER)
    assert result["observed_at"] == "2026-11-23T15:00:00Z"
    assert result["observed_at_local"] == "2026-11-23T10:00:00-05:00"


@pytest.mark.parametrize(
    ("code", "message"),
    [("UK", "use GB"), ("ZZ", "not an ISO 3166-1"), ("EL", "use GR")],
)
def test_country_codes_are_iso_3166_checked_at_submit(
    registry: JobTypeRegistry, code: str, message: str
) -> None:
    with pytest.raises(ValidationFailed) as info:
        registry.get("weather").parse({"city": "London", "country_code": code})
    assert info.value.errors[0].field == "payload.country_code"
    assert message in info.value.errors[0].message


async def test_an_open_meteo_key_goes_to_the_customer_hosts() -> None:
    seen: list[httpx.URL] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        if request.url.path == "/v1/search":
            return httpx.Response(
                200,
                json={
                    "results": [
                        {"name": "Porto", "latitude": 41.1, "longitude": -8.6, "country_code": "PT"}
                    ]
                },
            )
        return httpx.Response(
            200,
            json={
                "current": {"time": "2026-11-23T10:00", "temperature_2m": 15.0},
                "utc_offset_seconds": 0,
            },
        )

    client = ProviderClient(1.0, transport=httpx.MockTransport(answer))
    registry = registry_for(client, weather_api_key="k3y")
    await run(registry, "weather", {"city": "Porto", "country_code": "PT"})
    await client.close()
    assert [u.host for u in seen] == [
        "customer-geocoding-api.open-meteo.com",
        "customer-api.open-meteo.com",
    ]
    assert all(u.params["apikey"] == "k3y" for u in seen)


async def test_weather_in_imperial_units(
    registry: JobTypeRegistry, fake_providers: FakeProviders
) -> None:
    result = await run(registry, "weather", {**WEATHER, "units": "imperial"})
    assert result["temperature"] == 59.0
    assert result["units"] == {"temperature": "°F", "wind_speed": "mph"}
    [forecast] = fake_providers.requests("forecast")
    assert forecast.query["temperature_unit"] == ["fahrenheit"]
    assert forecast.query["wind_speed_unit"] == ["mph"]


@pytest.mark.parametrize(
    "payload",
    [{"city": "Nowhere", "country_code": "PT"}, {"city": "Coimbra", "country_code": "FR"}],
)
async def test_weather_for_an_unknown_city_is_a_permanent_not_found(
    registry: JobTypeRegistry, fake_providers: FakeProviders, payload: dict[str, str]
) -> None:
    with pytest.raises(ProviderNotFound) as info:
        await run(registry, "weather", payload)
    assert info.value.retryable is False and payload["city"] in info.value.message
    assert fake_providers.requests("forecast") == [], "no forecast for a place not found"


async def test_quote_of_a_category_is_normalised(
    registry: JobTypeRegistry, fake_providers: FakeProviders
) -> None:
    result = await run(registry, "quote", {"category": "wisdom"})
    assert result["quote"] == "Know thyself." and result["author"] == "Socrates"
    assert result["categories"] == ["wisdom"]
    assert "QuoteSlate" in result["attribution"]["text"], "its README asks for credit"
    assert fake_providers.requests("quote")[0].query == {"tags": ["wisdom"]}
    await run(registry, "quote", {})
    assert fake_providers.requests("quote")[1].query == {}, "no category, no filter"


async def test_exchange_rates_convert_the_amount(
    registry: JobTypeRegistry, fake_providers: FakeProviders
) -> None:
    result = await run(
        registry, "exchange_rate", {"base": "eur", "symbols": ["usd", "GBP", "EUR"], "amount": 10}
    )
    assert result["base"] == "EUR" and result["date"] == "2026-11-20"
    assert result["converted"] == {"USD": 10.5, "GBP": 8.3, "EUR": 10.0}
    assert result["rates"] == {"USD": 1.05, "GBP": 0.83, "EUR": 1.0}
    [seen] = fake_providers.requests("exchange_rate")
    assert seen.query == {"base": ["EUR"], "symbols": ["USD,GBP"], "amount": ["10"]}


async def test_the_amount_is_converted_by_frankfurter_before_it_rounds(
    registry: JobTypeRegistry,
) -> None:
    """1,000,000 IDR: the rate rounds to 0.000057, so multiplying it gives 57.00 EUR."""
    result = await run(
        registry, "exchange_rate", {"base": "IDR", "symbols": ["EUR"], "amount": 1_000_000}
    )
    assert result["converted"] == {"EUR": 57.471}
    assert result["rates"]["EUR"] == pytest.approx(0.000057471)


async def test_a_rate_frankfurter_leaves_out_is_a_permanent_not_found(
    registry: JobTypeRegistry,
) -> None:
    """Frankfurter answers 200 without the codes it does not publish (here: ZAR)."""
    with pytest.raises(ProviderNotFound, match="ZAR") as info:
        await run(registry, "exchange_rate", {"base": "USD", "symbols": ["EUR", "ZAR"]})
    assert info.value.retryable is False


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"base": "USD", "symbols": ["EURO"]}, "payload.symbols.0", "pattern"),
        ({"base": "USD", "symbols": ["EUR", "AED"]}, "payload.symbols.1", "AED is not one"),
        ({"base": "BGN", "symbols": ["EUR"]}, "payload.base", "Bulgaria uses EUR"),
    ],
)
def test_currency_codes_are_checked_against_the_ecb_list_at_submit(
    registry: JobTypeRegistry,
    fake_providers: FakeProviders,
    payload: dict,
    field: str,
    message: str,
) -> None:
    with pytest.raises(ValidationFailed) as info:
        registry.get("exchange_rate").parse(payload)
    assert info.value.errors[0].field == field
    assert message in info.value.errors[0].message
    assert fake_providers.requests("exchange_rate") == []


def test_quote_categories_are_quoteslates_tags(registry: JobTypeRegistry) -> None:
    kind = registry.get("quote")
    assert kind.parse({"category": " Wisdom "}).category == "wisdom"  # type: ignore[attr-defined]
    with pytest.raises(ValidationFailed) as info:
        kind.parse({"category": "cats"})
    assert info.value.errors[0].field == "payload.category"


async def test_github_user_profile_is_normalised(
    registry: JobTypeRegistry, fake_providers: FakeProviders
) -> None:
    result = await github_user(registry, "octo-cat")
    assert result["login"] == "octo-cat" and result["public_repos"] == 8
    assert result["blog"] is None and result["profile_url"] == "https://github.com/octo-cat"
    assert "node_id" not in result, "the fields a UI shows, not the raw answer"
    [seen] = fake_providers.requests("github")
    assert seen.path == "/users/octo-cat"
    assert seen.headers["Accept"] == "application/vnd.github+json"
    assert "Authorization" not in seen.headers


async def test_github_token_is_sent_when_set(
    fake_providers: FakeProviders, client: ProviderClient
) -> None:
    fake_providers.reset()
    registry = registry_for(client, **fake_providers.settings(), github_token="ghp_test")
    await github_user(registry)
    assert fake_providers.requests("github")[0].headers["Authorization"] == "Bearer ghp_test"


@pytest.mark.parametrize(
    "username", ["../admin", "a/b", "-start", "end-", "dou--ble", "x" * 40, "", "a?b=c", "a%2fb"]
)
def test_github_usernames_are_checked_before_any_request(
    registry: JobTypeRegistry, fake_providers: FakeProviders, username: str
) -> None:
    with pytest.raises(ValidationFailed) as info:
        registry.get("github_user").parse({"username": username})
    assert info.value.errors[0].field == "payload.username"
    assert fake_providers.requests("github") == []


async def test_a_missing_github_user_is_a_permanent_not_found(registry: JobTypeRegistry) -> None:
    with pytest.raises(ProviderNotFound, match="no-such-user-dtq"):
        await github_user(registry, "no-such-user-dtq")


async def test_ghost_is_a_real_github_account(registry: JobTypeRegistry) -> None:
    result = await github_user(registry, "ghost")
    assert result["login"] == "ghost"


async def test_githubs_exhausted_rate_limit_is_retried_after_its_reset(
    registry: JobTypeRegistry, fake_providers: FakeProviders
) -> None:
    error = await github_fails(registry, fake_providers, "github_rate_limit", ProviderRateLimited)
    assert error.retryable and error.retry_after is not None
    assert 100 <= error.retry_after <= 121
    assert "DTQ_GITHUB_TOKEN" in error.message


async def test_githubs_secondary_limit_waits_a_minute_not_a_refusal(
    registry: JobTypeRegistry, fake_providers: FakeProviders
) -> None:
    error = await github_fails(registry, fake_providers, "github_secondary", ProviderRateLimited)
    assert error.retry_after == 60, "GitHub: wait at least one minute"
    fake_providers.set("github", "ok")
    with pytest.raises(JobDeferred):
        await github_user(registry)
    assert len(fake_providers.requests("github")) == 1, "GitHub is paused: nothing more was sent"


async def test_a_403_that_is_no_rate_limit_is_a_refusal(
    registry: JobTypeRegistry, fake_providers: FakeProviders
) -> None:
    error = await github_fails(registry, fake_providers, "github_forbidden", ProviderRejected)
    assert error.retryable is False


async def test_the_last_request_of_githubs_hour_pauses_it_until_the_reset(
    registry: JobTypeRegistry, fake_providers: FakeProviders
) -> None:
    fake_providers.set("github", "github_last_request")
    assert (await github_user(registry))["login"] == "octocat"
    with pytest.raises(JobDeferred) as info:
        await github_user(registry)
    assert 290 <= info.value.seconds <= 301
    assert len(fake_providers.requests("github")) == 1


@pytest.mark.parametrize(
    ("mode", "low", "high"), [("429", 1, 61), ("429_hourly", 1, 3601), ("429_daily", 1, 86401)]
)
async def test_open_meteos_limits_wait_for_their_reset(
    registry: JobTypeRegistry, fake_providers: FakeProviders, mode: str, low: float, high: float
) -> None:
    """Open-Meteo's 429 has no Retry-After: its reason says which counter to wait for."""
    fake_providers.set("geocoding", mode)
    with pytest.raises(ProviderRateLimited) as info:
        await run(registry, "weather", WEATHER)
    assert info.value.retry_after is not None and low <= info.value.retry_after <= high
    with pytest.raises(JobDeferred, match="Open-Meteo"):
        await run(registry, "weather", WEATHER)
    assert len(fake_providers.requests("geocoding")) == 1, "paused: the second job sent nothing"


async def test_a_redirect_within_the_api_is_followed(
    registry: JobTypeRegistry, fake_providers: FakeProviders
) -> None:
    fake_providers.set("quote", "redirect")
    result = await run(registry, "quote", {"category": "life"})
    assert result["categories"] == ["life"]
    assert [s.path for s in fake_providers.requests("quote")] == [
        "/api/quotes/random",
        f"{MOVED}/api/quotes/random",
    ]


@pytest.mark.parametrize(
    ("mode", "message"), [("redirect_away", "another host"), ("redirect_loop", "redirects")]
)
async def test_a_redirect_elsewhere_or_without_end_is_refused(
    registry: JobTypeRegistry, fake_providers: FakeProviders, mode: str, message: str
) -> None:
    error = await github_fails(registry, fake_providers, mode, ProviderRejected, match=message)
    assert error.retryable is False
    assert all(
        s.headers.get("Host", "").startswith("127.0.0.1") for s in fake_providers.requests("github")
    )


# --- every provider, every failure ---------------------------------------------------

CALLS = {
    "geocoding": ("weather", WEATHER),
    "forecast": ("weather", WEATHER),
    "quote": ("quote", {"category": "life"}),
    "exchange_rate": ("exchange_rate", {"base": "EUR", "symbols": ["USD"]}),
    "github": ("github_user", {"username": "octocat"}),
}
FAILURES: dict[str, tuple[type[JobFailure], bool]] = {
    "slow": (ProviderTimeout, True),
    "429": (ProviderRateLimited, True),
    "500": (ProviderServerError, True),
    "malformed": (ProviderBadResponse, True),
    "404": (ProviderNotFound, False),
}
#: The wait each API's own 429 asks (tests/support/fake_providers.py): QuoteSlate's
#: Retry-After; Open-Meteo's reason (the next minute); the floor where it says nothing.
RATE_LIMIT_WAITS = {
    "geocoding": (1, 61),
    "forecast": (1, 61),
    "quote": (2, 2),
    "exchange_rate": (60, 60),
    "github": (60, 60),
}


@pytest.mark.parametrize("mode", sorted(FAILURES))
@pytest.mark.parametrize("api", sorted(CALLS))
async def test_each_failure_of_each_provider_is_sorted(
    registry: JobTypeRegistry, fake_providers: FakeProviders, api: str, mode: str
) -> None:
    error, retryable = FAILURES[mode]
    fake_providers.set(api, mode)
    job_type, payload = CALLS[api]
    with pytest.raises(error) as info:
        await run(registry, job_type, payload)
    assert info.value.retryable is retryable
    if mode == "429":
        low, high = RATE_LIMIT_WAITS[api]
        assert info.value.retry_after is not None
        assert low <= info.value.retry_after <= high, "the wait is carried to the retry policy"
    else:
        assert info.value.retry_after is None
    assert fake_providers.requests(api), "the request was made"


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
    await github_user(registry)
    assert client._client() is first
