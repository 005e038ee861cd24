"""``weather``: current conditions in a city, from Open-Meteo (no key needed).

Two calls: the geocoding API finds the city (in the given country), then the
forecast API gives its current conditions, in metric or imperial units.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.errors import ProviderNotFound
from shared.jobtypes import JobContext, JobTypeRegistry
from shared.providers.client import ProviderClient, answer_as
from shared.settings import Settings

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


class WeatherPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    city: str = Field(min_length=1, max_length=100, description="City name, e.g. Lisbon.")
    country_code: str = Field(
        pattern=r"^[A-Za-z]{2}$", description="ISO 3166-1 alpha-2 country code, e.g. PT."
    )
    units: Literal["metric", "imperial"] = Field(
        default="metric", description="metric: °C and km/h; imperial: °F and mph."
    )


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


def register(registry: JobTypeRegistry, settings: Settings, client: ProviderClient) -> None:
    geocoding = settings.weather_geocoding_url.rstrip("/") + "/v1/search"
    forecast = settings.weather_forecast_url.rstrip("/") + "/v1/forecast"

    async def weather(payload: WeatherPayload, ctx: JobContext) -> dict[str, Any]:
        """Current weather in a city (Open-Meteo)."""
        country = payload.country_code.upper()
        await ctx.report(10, "finding the city")
        found = answer_as(
            _Geocoding,
            await client.get_json(
                geocoding,
                what="Open-Meteo geocoding",
                params={"name": payload.city, "count": 10, "language": "en", "format": "json"},
            ),
            "Open-Meteo geocoding",
        )
        places = [p for p in found.results if p.country_code.upper() == country]
        if not places:
            raise ProviderNotFound(f"no city named {payload.city!r} in country {country}")
        place = places[0]
        await ctx.report(40, "calling the forecast API")
        imperial = payload.units == "imperial"
        params: dict[str, Any] = {
            "latitude": place.latitude,
            "longitude": place.longitude,
            "current": CURRENT,
            "timezone": "auto",
        }
        if imperial:
            params.update(temperature_unit="fahrenheit", wind_speed_unit="mph")
        data = await client.get_json(forecast, what="Open-Meteo forecast", params=params)
        await ctx.report(80, "parsing")
        now = answer_as(_Forecast, data, "Open-Meteo forecast").current
        result = {
            "city": place.name,
            "region": place.admin1,
            "country": place.country or country,
            "country_code": country,
            "latitude": place.latitude,
            "longitude": place.longitude,
            "timezone": place.timezone,
            "observed_at": now.time,
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
        }
        await ctx.report(95, "storing")
        return result

    registry.register("weather", WeatherPayload, weather)
