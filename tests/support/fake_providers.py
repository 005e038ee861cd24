"""A local stand-in for the providers' public APIs: a real HTTP server on a loopback
port (Open-Meteo geocoding and forecast, QuoteSlate, Frankfurter, GitHub users), whose
answers a test can switch per API to slow, 429 with Retry-After, 500, malformed JSON,
or 404. It records every request it gets."""

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
MODES = ("ok", "slow", "429", "500", "malformed", "404", "github_rate_limit")


@dataclass
class Seen:
    api: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


def _ok(api: str, path: str, query: dict[str, list[str]]) -> Any:
    if api == "geocoding":
        name = query.get("name", [""])[0]
        if name == "Nowhere":
            return {"generationtime_ms": 0.1}  # Open-Meteo leaves out "results"
        return {
            "results": [
                {
                    "name": name,
                    "latitude": 44.6,
                    "longitude": -70.1,
                    "country": "United States",
                    "country_code": "US",
                    "timezone": "America/New_York",
                    "admin1": "Maine",
                },
                {
                    "name": name,
                    "latitude": 40.2,
                    "longitude": -8.4,
                    "country": "Portugal",
                    "country_code": "PT",
                    "timezone": "Europe/Lisbon",
                    "admin1": "Coimbra",
                },
            ]
        }
    if api == "forecast":
        fahrenheit = query.get("temperature_unit") == ["fahrenheit"]
        return {
            "latitude": float(query["latitude"][0]),
            "longitude": float(query["longitude"][0]),
            "current_units": {"temperature_2m": "°F" if fahrenheit else "°C"},
            "current": {
                "time": "2026-11-23T10:00",
                "temperature_2m": 59.0 if fahrenheit else 15.0,
                "apparent_temperature": 57.2 if fahrenheit else 14.0,
                "relative_humidity_2m": 71,
                "weather_code": 3,
                "wind_speed_10m": 6.2 if fahrenheit else 10.0,
            },
        }
    if api == "quote":
        tags = query.get("tags", [""])[0].split(",") if "tags" in query else ["wisdom"]
        return {
            "id": 7,
            "quote": " Know thyself. ",
            "author": "Socrates",
            "length": 13,
            "tags": tags,
        }
    if api == "exchange_rate":
        rates = {"EUR": 0.9, "GBP": 0.8, "JPY": 150.0, "USD": 1.1}
        symbols = query.get("symbols", [""])[0].split(",")
        if any(s not in rates for s in symbols):
            return None  # Frankfurter answers 404 for an unknown currency
        return {
            "amount": 1.0,
            "base": query["base"][0],
            "date": "2026-11-20",
            "rates": {s: rates[s] for s in symbols},
        }
    login = path.rsplit("/", 1)[-1]
    if login == "ghost":
        return None
    return {
        "login": login,
        "id": 1,
        "html_url": f"https://github.com/{login}",
        "avatar_url": "https://avatars.example/1",
        "name": "Octo Cat",
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
        assert api in APIS and mode in MODES
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

            def send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                api = next((a for a, p in APIS.items() if parts.path.startswith(p)), None)
                if api is None:
                    self.send(404, b'{"message": "no such API"}')
                    return
                query = parse_qs(parts.query)
                fake.seen.append(Seen(api, parts.path, query, dict(self.headers.items())))
                mode = fake.modes[api]
                if mode == "slow":
                    time.sleep(fake.slow_seconds)
                    mode = "ok"
                if mode == "429":
                    self.send(429, b'{"message": "slow down"}', {"Retry-After": "7"})
                elif mode == "500":
                    self.send(500, b"upstream exploded")
                elif mode == "malformed":
                    self.send(200, b'{"results": [ {"name": ')
                elif mode == "404":
                    self.send(404, b'{"message": "not found"}')
                elif mode == "github_rate_limit":
                    reset = str(int(time.time()) + 120)
                    self.send(
                        403,
                        b'{"message": "API rate limit exceeded"}',
                        {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset},
                    )
                else:
                    body = _ok(api, parts.path, query)
                    if body is None:
                        self.send(404, b'{"message": "not found"}')
                    else:
                        self.send(200, json.dumps(body).encode())

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
