"""``weather``: current conditions in a city, from Open-Meteo.

Two calls: the geocoding API finds the city in the given country (``countryCode``, and
up to 100 results, since older servers filter by country after cutting the list), then
the forecast API gives its current conditions, in metric or imperial units.

Open-Meteo's free API is for non-commercial use; its data is CC BY 4.0, so every result
carries the attribution. With ``DTQ_WEATHER_API_KEY`` (the commercial plan) the key is
sent as ``apikey`` and the default URLs become the ``customer-`` hosts. A 429 from
Open-Meteo carries no ``Retry-After``: its ``reason`` says which limit was hit, and its
counters reset at the next minute, the next full UTC hour or UTC midnight.
"""

from __future__ import annotations

import importlib.resources
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from typing import Annotated, Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator

from shared.jobs import iso_utc
from shared.jobtypes import JobContext, JobTypeRegistry
from shared.jobtypes.errors import ProviderNotFound
from shared.providers.answers import RateLimit, answer_as, standard_rate_limit
from shared.providers.client import Provider

#: WMO weather interpretation codes, as Open-Meteo documents them.
WMO_CODES = {
    0: "clear sky",
    1: "mainly clear",
    2: "partly cloudy",
    3: "overcast",
    45: "fog",
    48: "depositing rime fog",
    51: "light drizzle",
    53: "moderate drizzle",
    55: "dense drizzle",
    56: "light freezing drizzle",
    57: "dense freezing drizzle",
    61: "slight rain",
    63: "moderate rain",
    65: "heavy rain",
    66: "light freezing rain",
    67: "heavy freezing rain",
    71: "slight snow fall",
    73: "moderate snow fall",
    75: "heavy snow fall",
    77: "snow grains",
    80: "slight rain showers",
    81: "moderate rain showers",
    82: "violent rain showers",
    85: "slight snow showers",
    86: "heavy snow showers",
    95: "thunderstorm",
    96: "thunderstorm with slight hail",
    99: "thunderstorm with heavy hail",
}
CURRENT = "temperature_2m,apparent_temperature,relative_humidity_2m,weather_code,wind_speed_10m"
FREE_HOSTS = {
    "https://geocoding-api.open-meteo.com": "https://customer-geocoding-api.open-meteo.com",
    "https://api.open-meteo.com": "https://customer-api.open-meteo.com",
}
ATTRIBUTION = {
    "text": "Weather data by Open-Meteo.com; location data based on GeoNames",
    "url": "https://open-meteo.com/",
    "license": "CC BY 4.0",
}
#: Codes people use for a country whose ISO 3166-1 code is another.
COUNTRY_HINTS = {"UK": "GB", "EL": "GR", "EN": "GB"}


@cache
def country_codes() -> frozenset[str]:
    """ISO 3166-1 alpha-2 codes, from the IANA tz database's iso3166.tab (the tzdata
    package), and XK, which GeoNames uses for Kosovo."""
    table = importlib.resources.files("tzdata").joinpath("zoneinfo/iso3166.tab").read_text()
    codes = {line[:2] for line in table.splitlines() if line and not line.startswith("#")}
    return frozenset(codes | {"XK"})


def open_meteo_rate_limit(
    response: httpx.Response, now: datetime | None = None
) -> RateLimit | None:
    """Open-Meteo's 429: its ``reason`` names the limit, and when its counter resets."""
    if response.status_code != 429:
        return None
    try:
        reason = str(response.json().get("reason", ""))
    except (ValueError, AttributeError):
        return standard_rate_limit(response)
    at = now or datetime.now(UTC)
    if reason.startswith("Minutely"):
        reset = at.replace(second=0, microsecond=0) + timedelta(minutes=1)
    elif reason.startswith("Hourly"):
        reset = at.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    elif reason.startswith("Daily"):
        reset = at.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    elif "concurrent" in reason:
        return RateLimit(5.0, reason)
    else:
        return RateLimit(None, reason or "HTTP 429")
    return RateLimit((reset - at).total_seconds() + 1, reason)


OPEN_METEO = Provider(
    "open_meteo", "Open-Meteo", floor_seconds=60.0, rate_limit=open_meteo_rate_limit
)


class WeatherPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    city: str = Field(min_length=1, max_length=100, description="City name, e.g. Lisbon.")
    country_code: Annotated[
        str,
        Field(pattern=r"^[A-Za-z]{2}$"),
        # In any case; the schema (OpenAPI, the UI's form) lists the codes.
        WithJsonSchema(
            {
                "type": "string",
                "enum": sorted(country_codes()),
                "description": "ISO 3166-1 alpha-2 country code, e.g. PT or GB.",
            }
        ),
    ]
    units: Literal["metric", "imperial"] = Field(
        default="metric", description="metric: °C and km/h; imperial: °F and mph."
    )

    @field_validator("country_code")
    @classmethod
    def _iso(cls, value: str) -> str:
        code = value.upper()
        if code in COUNTRY_HINTS:
            raise ValueError(f"{code} is not an ISO 3166-1 code; use {COUNTRY_HINTS[code]}")
        if code not in country_codes():
            raise ValueError(f"{code} is not an ISO 3166-1 alpha-2 country code")
        return code


class _Place(BaseModel):
    name: str
    latitude: float
    longitude: float
    country: str = ""
    country_code: str = ""
    timezone: str = ""
    admin1: str | None = None


class _Geocoding(BaseModel):
    results: list[_Place] = []


class _Current(BaseModel):
    time: str
    temperature_2m: float
    apparent_temperature: float | None = None
    relative_humidity_2m: float | None = None
    weather_code: int | None = None
    wind_speed_10m: float | None = None


class _Forecast(BaseModel):
    current: _Current
    current_units: dict[str, str] = {}
    utc_offset_seconds: int = 0
    timezone: str = ""


def _observed(forecast: _Forecast) -> tuple[str, str]:
    """(UTC time, local time with its offset) of the current conditions: Open-Meteo gives
    local wall time without an offset, and the offset apart."""
    local = datetime.fromisoformat(forecast.current.time)
    offset = timedelta(seconds=forecast.utc_offset_seconds)
    aware = local.replace(tzinfo=UTC) - offset
    return iso_utc(aware), aware.astimezone(timezone(offset)).isoformat()


def register(registry: JobTypeRegistry) -> None:
    settings, client = registry.settings.providers, registry.http
    key = settings.weather_api_key
    urls = [settings.weather_geocoding_url.rstrip("/"), settings.weather_forecast_url.rstrip("/")]
    if key:
        urls = [FREE_HOSTS.get(url, url) for url in urls]
    geocoding, forecast = urls[0] + "/v1/search", urls[1] + "/v1/forecast"
    keyed = {"apikey": key} if key else {}

    async def weather(payload: WeatherPayload, ctx: JobContext) -> dict[str, Any]:
        """Current weather in a city (Open-Meteo)."""
        country = payload.country_code
        await ctx.report(10, "finding the city")
        ctx.log(f"looking up {payload.city!r} in {country}")
        search = {"name": payload.city, "countryCode": country, "count": 100, "language": "en"}
        found = answer_as(
            _Geocoding,
            await client.get_json(
                geocoding,
                provider=OPEN_METEO,
                what="Open-Meteo geocoding",
                params={**search, "format": "json", **keyed},
            ),
            "Open-Meteo geocoding",
        )
        places = [p for p in found.results if p.country_code.upper() == country]
        if not places:
            raise ProviderNotFound(f"no city named {payload.city!r} in country {country}")
        place = places[0]
        region = f", {place.admin1}" if place.admin1 else ""
        ctx.log(
            f"found {place.name}{region} ({country}) at {place.latitude:.4f},"
            f" {place.longitude:.4f} ({len(places)} match(es))"
        )
        await ctx.report(40, "calling the forecast API")
        imperial = payload.units == "imperial"
        params: dict[str, Any] = {
            "latitude": place.latitude,
            "longitude": place.longitude,
            "current": CURRENT,
            "timezone": "auto",
            **keyed,
        }
        if imperial:
            params.update(temperature_unit="fahrenheit", wind_speed_unit="mph")
        data = await client.get_json(
            forecast, provider=OPEN_METEO, what="Open-Meteo forecast", params=params
        )
        await ctx.report(80, "parsing")
        answer = answer_as(_Forecast, data, "Open-Meteo forecast")
        now = answer.current
        observed_at, observed_local = _observed(answer)
        degrees = "°F" if imperial else "°C"
        ctx.log(f"observed at {observed_local or observed_at}: {now.temperature_2m}{degrees}")
        result = {
            "city": place.name,
            "region": place.admin1,
            "country": place.country or country,
            "country_code": country,
            "latitude": place.latitude,
            "longitude": place.longitude,
            "timezone": answer.timezone or place.timezone,
            "observed_at": observed_at,
            "observed_at_local": observed_local,
            "conditions": WMO_CODES.get(now.weather_code, "unknown")
            if now.weather_code is not None
            else "unknown",
            "temperature": now.temperature_2m,
            "feels_like": now.apparent_temperature,
            "humidity_percent": now.relative_humidity_2m,
            "wind_speed": now.wind_speed_10m,
            "units": {
                "temperature": "°F" if imperial else "°C",
                "wind_speed": "mph" if imperial else "km/h",
            },
            "attribution": ATTRIBUTION,
        }
        await ctx.report(95, "storing")
        return result

    registry.register("weather", WeatherPayload, weather)
