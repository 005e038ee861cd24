"""A local stand-in for the providers' public APIs: a real HTTP server on a loopback
port (Open-Meteo geocoding and forecast, QuoteSlate, Frankfurter, GitHub users), as
strict as the real ones where a client can go wrong (each rule names its source):

- geocoding ranks other countries first ("Lancaster": 18 places before the one in GB),
  honours ``count`` (1-100, else 400) and applies ``countryCode`` *after* the count cut,
  as open-meteo/geocoding-api's controller does; an empty answer has no ``results``;
- forecast gives local wall time without an offset, and ``utc_offset_seconds``;
- Open-Meteo's 429 has no ``Retry-After``, only a JSON ``reason`` (RateLimiter.swift);
- QuoteSlate refuses an unknown tag with 400 and limits with express-rate-limit's 429
  (``Retry-After``, ``RateLimit-Reset``);
- Frankfurter drops unknown symbols from a 200 answer, answers 404 when none is left,
  and multiplies ``amount`` before rounding as its ``Roundable`` does;
- GitHub's primary limit (403, remaining 0, reset), its secondary limit (403 or 429
  without ``x-ratelimit-remaining: 0``), and ``ghost``, which is a real account.

A test switches each API's mode (:data:`MODES`); the server records every request."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.processes import free_port

#: Path prefix of each API, as the providers call them.
APIS = {
    "geocoding": "/v1/search",
    "forecast": "/v1/forecast",
    "quote": "/api/quotes/random",
    "exchange_rate": "/v1/latest",
    "github": "/users/",
}
MODES = (
    "ok",
    "slow",
    "429",
    "429_hourly",
    "429_daily",
    "500",
    "malformed",
    "404",
    "github_rate_limit",
    "github_last_request",
    "github_secondary",
    "github_forbidden",
    "redirect",
    "redirect_away",
    "redirect_loop",
)
#: Where a same-origin redirect sends a request (the path is then served as usual).
MOVED = "/moved"
#: Frankfurter's rates per EUR (ECB reference rates), and one code it does not publish.
EUR_RATES = {"EUR": 1.0, "USD": 1.05, "GBP": 0.83, "JPY": 160.5, "IDR": 17400.0, "CHF": 0.94}
GITHUB_MISSING = {"no-such-user-dtq"}
QUOTESLATE_TAGS = {"wisdom", "life", "motivation", "inspiration", "success"}
OPEN_METEO_LIMITS = {
    "429": "Minutely API request limit exceeded. Please try again in one minute.",
    "429_hourly": "Hourly API request limit exceeded. Please try again in the next hour.",
    "429_daily": "Daily API request limit exceeded. Please try again tomorrow.",
}


@dataclass
class Seen:
    api: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


def _place(name: str, country: str, code: str, lat: float, lon: float, **extra: Any) -> dict:
    return {
        "name": name,
        "latitude": lat,
        "longitude": lon,
        "country": country,
        "country_code": code,
        **extra,
    }


def _places(name: str) -> list[dict[str, Any]]:
    """Every place called ``name``, ranked as Open-Meteo ranks them (by population,
    so other countries' towns come first)."""
    if name == "Nowhere":
        return []
    if name == "Lancaster":
        us = [
            _place(name, "United States", "US", 34.7 + i / 10, -118.1 - i, admin1=f"State {i}")
            for i in range(18)
        ]
        gb = _place(
            name,
            "United Kingdom",
            "GB",
            54.0465,
            -2.7997,
            admin1="England",
            timezone="Europe/London",
        )
        return [*us, gb]
    return [
        _place(
            name, "United States", "US", 44.6, -70.1, admin1="Maine", timezone="America/New_York"
        ),
        _place(name, "Portugal", "PT", 40.2, -8.4, admin1="Coimbra", timezone="Europe/Lisbon"),
    ]


def _round(value: float) -> float:
    """Frankfurter's Roundable: decimals by the size of the value."""
    for above, decimals in ((5000, 0), (80, 2), (20, 3), (1, 4), (0.0001, 5)):
        if value > above:
            return round(value, decimals)
    return round(value, 6)


def _answer(api: str, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
    """The status and JSON body of a well-formed request's answer."""
    if api == "geocoding":
        count = int(query.get("count", ["10"])[0])
        if not 1 <= count <= 100:
            return 400, {"error": True, "reason": "Parameter count must be between 1 and 100."}
        found = _places(query.get("name", [""])[0])[:count]
        if "countryCode" in query:  # after the cut, as the deployed controller does
            found = [p for p in found if p["country_code"] == query["countryCode"][0]]
        return 200, ({"results": found} if found else {"generationtime_ms": 0.1})
    if api == "forecast":
        fahrenheit = query.get("temperature_unit") == ["fahrenheit"]
        return 200, {
            "latitude": float(query["latitude"][0]),
            "longitude": float(query["longitude"][0]),
            "utc_offset_seconds": 0,
            "timezone": "Europe/Lisbon",
            "timezone_abbreviation": "GMT",
            "current_units": {"temperature_2m": "°F" if fahrenheit else "°C"},
            "current": {
                "time": "2026-11-23T10:00",
                "interval": 900,
                "temperature_2m": 59.0 if fahrenheit else 15.0,
                "apparent_temperature": 57.2 if fahrenheit else 14.0,
                "relative_humidity_2m": 71,
                "weather_code": 3,
                "wind_speed_10m": 6.2 if fahrenheit else 10.0,
            },
        }
    if api == "quote":
        tags = [t.lower() for t in query["tags"][0].split(",")] if "tags" in query else ["wisdom"]
        unknown = [t for t in tags if t not in QUOTESLATE_TAGS]
        if unknown:
            return 400, {"error": f"Invalid tag(s): {', '.join(unknown)}"}
        return 200, {"id": 7, "quote": " Know thyself. ", "author": "Socrates", "tags": tags}
    if api == "exchange_rate":
        base = query.get("base", ["EUR"])[0].upper()
        amount = float(query.get("amount", ["1"])[0])
        symbols = [s.upper() for s in query.get("symbols", [""])[0].split(",") if s]
        known = [s for s in symbols if s in EUR_RATES and s != base]
        if base not in EUR_RATES or not known:
            return 404, {"message": "not found"}
        rates = {s: _round(amount * EUR_RATES[s] / EUR_RATES[base]) for s in known}
        return 200, {"amount": amount, "base": base, "date": "2026-11-20", "rates": rates}
    login = path.rsplit("/", 1)[-1]
    if login.lower() in GITHUB_MISSING:
        return 404, {"message": "Not Found", "status": "404"}
    return 200, {
        "login": login,
        "id": 10137 if login == "ghost" else 1,
        "html_url": f"https://github.com/{login}",
        "avatar_url": "https://avatars.example/1",
        "name": "Deleted user" if login == "ghost" else "Octo Cat",
        "company": None,
        "blog": "",
        "location": "Lisbon",
        "bio": "hi",
        "type": "User",
        "public_repos": 8,
        "followers": 20,
        "following": 1,
        "created_at": "2011-01-25T18:44:36Z",
        "node_id": "x",
        "gravatar_id": "",
    }


def _rate_limited(api: str, mode: str) -> tuple[int, Any, dict[str, str]]:
    """Each API's own rate-limit answer (mode ``429`` and its variants)."""
    if api in ("geocoding", "forecast"):
        return 429, {"error": True, "reason": OPEN_METEO_LIMITS[mode]}, {}
    if api == "quote":
        headers = {"Retry-After": "2", "RateLimit-Policy": "100;w=900", "RateLimit-Reset": "2"}
        return 429, {"error": "Too many requests, please try again later."}, headers
    if api == "github":  # a 429 without remaining 0 or retry-after: a secondary limit
        return 429, {"message": "You have exceeded a secondary rate limit."}, {}
    return 429, {"message": "too many requests"}, {}  # Frankfurter documents none


class FakeProviders:
    def __init__(self) -> None:
        self.port = free_port()
        self.modes: dict[str, str] = {api: "ok" for api in APIS}
        self.slow_seconds = 3.0
        self.seen: list[Seen] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def settings(self) -> dict[str, str]:
        """Settings overrides that point every provider here."""
        return {
            "weather_geocoding_url": self.url,
            "weather_forecast_url": self.url,
            "quote_api_url": self.url,
            "exchange_rate_api_url": self.url,
            "github_api_url": self.url,
        }

    def environment(self) -> dict[str, str]:
        return {f"DTQ_{k.upper()}": v for k, v in self.settings().items()}

    def set(self, api: str, mode: str) -> None:
        assert api in APIS and mode in MODES, (api, mode)
        self.modes[api] = mode

    def reset(self) -> None:
        self.modes = {api: "ok" for api in APIS}
        self.seen.clear()

    def requests(self, api: str) -> list[Seen]:
        return [s for s in self.seen if s.api == api]

    def start(self) -> FakeProviders:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                moved = parts.path.startswith(MOVED)
                path = parts.path[len(MOVED) :] if moved else parts.path
                api = next((a for a, p in APIS.items() if path.startswith(p)), None)
                if api is None:
                    self.send(404, {"message": "no such API"})
                    return
                query = parse_qs(parts.query)
                fake.seen.append(Seen(api, parts.path, query, dict(self.headers.items())))
                mode = "ok" if moved and fake.modes[api] != "redirect_loop" else fake.modes[api]
                if mode == "slow":
                    time.sleep(fake.slow_seconds)
                    mode = "ok"
                if mode.startswith("429"):
                    self.send(*_rate_limited(api, mode))
                elif mode == "500":
                    self.send(500, b"upstream exploded")
                elif mode == "malformed":
                    self.send(200, b'{"results": [ {"name": ')
                elif mode == "404":
                    self.send(404, {"message": "not found"})
                elif mode.startswith("redirect"):
                    target = f"{MOVED}{path}?{parts.query}"
                    if mode == "redirect_away":
                        target = f"http://localhost:{fake.port}{target}"
                    self.send(301, {}, {"Location": target})
                elif mode == "github_rate_limit":
                    reset = str(int(time.time()) + 120)
                    self.send(
                        403,
                        {"message": "API rate limit exceeded for 127.0.0.1."},
                        {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset},
                    )
                elif mode == "github_last_request":  # a 200 that used the hour's last one
                    reset = str(int(time.time()) + 300)
                    status, body = _answer(api, path, query)
                    self.send(
                        status, body, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}
                    )
                elif mode == "github_secondary":
                    self.send(
                        403,
                        {"message": "You have exceeded a secondary rate limit. Please wait."},
                        {"X-RateLimit-Remaining": "42"},
                    )
                elif mode == "github_forbidden":
                    self.send(403, {"message": "Resource not accessible by integration"})
                else:
                    self.send(*_answer(api, path, query))

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        # A client that timed out hangs up mid-answer (the "slow" mode): not an error here.
        self._server.handle_error = lambda request, address: None  # type: ignore[method-assign]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
