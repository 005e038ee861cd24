"""The one HTTP client every provider uses, and the error taxonomy of its answers.

One pooled ``httpx.AsyncClient`` per event loop (connections are reused across jobs;
an AsyncClient must not be shared between loops), created on first use, with a
timeout and a User-Agent. Before each request the provider's quotas are counted
(:mod:`shared.quotas`); a request over them is not sent and its job is deferred, unspent.
What comes back is sorted once:

==============================================  ======================================
answer                                          error (retryable?)
==============================================  ======================================
timeout                                         ProviderTimeout (yes)
connection refused/reset, DNS, TLS              ProviderUnavailable (yes)
a rate limit, as the provider signals it        ProviderRateLimited (yes, after the
(429, GitHub's 403s, ...)                       wait it asked or the provider's floor;
                                                the provider is paused meanwhile)
5xx                                             ProviderServerError (yes, Retry-After)
404                                             ProviderNotFound (no)
3xx to the same host                            followed (up to MAX_REDIRECTS)
3xx elsewhere, or without Location              ProviderRejected (no)
other 4xx                                       ProviderRejected (no)
2xx that is not the JSON promised               ProviderBadResponse (yes)
==============================================  ======================================

Redirects are followed only within the API's own origin (or from http to https on the
same host): a redirect elsewhere would carry the request's API key (in its query) to
another host and could point a worker at an address inside its network.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from pydantic import BaseModel, ValidationError

from shared import __version__
from shared.jobs import utcnow
from shared.jobtypes.errors import (
    ProviderBadResponse,
    ProviderNotFound,
    ProviderRateLimited,
    ProviderRejected,
    ProviderServerError,
    ProviderTimeout,
    ProviderUnavailable,
)
from shared.metrics import Metrics
from shared.quotas import ProviderQuotas
from shared.retries import parse_retry_after
from shared.telemetry import tracer

# httpx logs each request's URL at INFO, query included: an API key sent as a query
# parameter (Open-Meteo's apikey) would reach the logs, and Application Insights.
logging.getLogger("httpx").setLevel(logging.WARNING)

USER_AGENT = f"dtq/{__version__} (job queue; python-httpx/{httpx.__version__})"
#: Longest excerpt of a provider's error body kept in an error message.
DETAIL_CHARS = 200
#: Connections kept per client (one client per worker process and event loop).
POOL = httpx.Limits(max_connections=100, max_keepalive_connections=20)
#: Redirects followed within the API's own origin before giving up.
MAX_REDIRECTS = 3
REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class RateLimit:
    """What a rate-limit answer asks: a wait in seconds (None: it does not say), and why."""

    asked: float | None
    why: str


def standard_rate_limit(response: httpx.Response) -> RateLimit | None:
    """A 429, with the wait from ``Retry-After`` or the IETF ``RateLimit-Reset`` /
    ``RateLimit: ..., reset=N`` headers (express-rate-limit sends these), if any."""
    if response.status_code != 429:
        return None
    return RateLimit(header_wait(response), f"HTTP 429{detail(response)}")


def header_wait(response: httpx.Response) -> float | None:
    """Seconds a response's headers ask to wait: ``Retry-After`` (seconds or a date),
    else the IETF draft's ``RateLimit-Reset`` (seconds) or ``RateLimit`` ``reset=``."""
    headers = response.headers
    asked = parse_retry_after(headers.get("Retry-After"), utcnow())
    if asked is not None:
        return asked
    reset = headers.get("RateLimit-Reset", "").strip()
    if reset.isdigit():
        return float(reset)
    for item in headers.get("RateLimit", "").split(","):
        key, _, value = item.strip().partition("=")
        if key == "reset" and value.strip().isdigit():
            return float(value.strip())
    return None


@dataclass(frozen=True)
class Provider:
    """One external API as dtq calls it."""

    #: Key of its quotas and pauses, and its metric label (e.g. ``open_meteo``).
    name: str
    #: Its name in messages (e.g. ``Open-Meteo``).
    title: str
    #: Wait after a rate limit whose answer does not say how long (doubled for each one
    #: in a row), in seconds.
    floor_seconds: float = 60.0
    #: Reads any answer: the rate limit it signals, or None. A 2xx may signal one too
    #: (a quota used up by this very call): the provider is then paused, the answer kept.
    rate_limit: Callable[[httpx.Response], RateLimit | None] = standard_rate_limit


class ProviderClient:
    def __init__(
        self,
        timeout_seconds: float,
        transport: httpx.AsyncBaseTransport | None = None,
        metrics: Metrics | None = None,
        quotas: ProviderQuotas | None = None,
    ):
        self.timeout = timeout_seconds
        self._transport = transport
        self.metrics = metrics or Metrics()
        self.quotas = quotas or ProviderQuotas()
        self._clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}

    def _client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None or client.is_closed:
            client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout),
                headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
                limits=POOL,
                follow_redirects=False,
                transport=self._transport,
            )
            self._clients[loop] = client
        return client

    async def get(
        self,
        url: str,
        *,
        provider: Provider,
        what: str,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """GET ``url`` within ``provider``'s quotas, following redirects within its
        origin. Raises JobDeferred over a quota (nothing sent), ProviderRateLimited on a
        rate limit, and retryable provider errors on transport failures; any other
        answer is returned as it is."""
        await self.quotas.take(provider.name, provider.title)
        response = await self._send(url, provider, what, params, headers)
        for _ in range(MAX_REDIRECTS):
            target = _redirect(response, what)
            if target is None:
                break
            response = await self._send(str(target), provider, what, None, headers)
        else:
            if _redirect(response, what) is not None:
                raise ProviderRejected(f"{what}: more than {MAX_REDIRECTS} redirects")
        limited = provider.rate_limit(response)
        answered = 200 <= response.status_code < 300
        if limited is None and response.status_code < 500:
            self.quotas.succeeded(provider.name)
        if limited is not None:
            wait = await self.quotas.pause(
                provider.name,
                limited.asked,
                provider.floor_seconds,
                limited.why,
                strike=not answered,
            )
            if not answered:
                raise ProviderRateLimited(
                    f"{what}: {provider.title} rate limited dtq ({limited.why});"
                    f" {provider.title} is paused for {wait:.0f}s",
                    wait,
                )
        return response

    async def _send(
        self,
        url: str,
        provider: Provider,
        what: str,
        params: dict[str, Any] | None,
        headers: dict[str, str] | None,
    ) -> httpx.Response:
        """One request, as a client span and a timing by provider and outcome;
        transport failures become retryable provider errors."""
        target = httpx.URL(url)
        attributes = {
            "http.request.method": "GET",
            "server.address": target.host,
            "url.full": str(target.copy_with(query=None)),
        }
        began, outcome = time.monotonic(), "connection"
        with tracer.start_as_current_span(
            f"GET {target.host}", kind=SpanKind.CLIENT, attributes=attributes
        ) as span:
            try:
                response = await self._client().get(url, params=params, headers=headers)
                outcome = _outcome(response.status_code)
                span.set_attribute("http.response.status_code", response.status_code)
                if response.status_code >= 400:
                    span.set_status(trace.StatusCode.ERROR, f"HTTP {response.status_code}")
                return response
            except httpx.TimeoutException:
                outcome = "timeout"
                raise ProviderTimeout(f"{what}: no answer within {self.timeout:g}s") from None
            except httpx.TransportError as exc:
                raise ProviderUnavailable(
                    f"{what}: cannot connect ({type(exc).__name__}: {exc})"
                ) from None
            finally:
                self.metrics.provider_call(provider.name, outcome, time.monotonic() - began)

    async def get_json(
        self,
        url: str,
        *,
        provider: Provider,
        what: str,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """GET ``url`` and return its JSON body, or raise the error its answer means."""
        response = await self.get(url, provider=provider, what=what, params=params, headers=headers)
        check(response, what)
        return json_of(response, what)

    async def close(self) -> None:
        clients, self._clients = self._clients, {}
        for loop, client in clients.items():
            if loop.is_closed():
                continue
            if loop is asyncio.get_running_loop():
                await client.aclose()


def _outcome(status: int) -> str:
    """A provider call's outcome, as a metric label: ok, http_3xx, http_429, http_4xx..."""
    if status < 300:
        return "ok"
    return "http_429" if status == 429 else f"http_{status // 100}xx"


def same_origin(target: httpx.URL, origin: httpx.URL) -> bool:
    """Whether a redirect to ``target`` stays at ``origin``'s host and port (http may
    become https on the same host, never the reverse)."""
    if target.host != origin.host:
        return False
    if target.scheme == origin.scheme:
        return target.port == origin.port
    return origin.scheme == "http" and target.scheme == "https" and target.port in (None, 443)


def _redirect(response: httpx.Response, what: str) -> httpx.URL | None:
    """Where a redirect within the API's origin leads; None if ``response`` is none;
    ProviderRejected for one that leads elsewhere or nowhere."""
    if response.status_code not in REDIRECTS:
        return None
    location = response.headers.get("Location")
    if not location:
        raise ProviderRejected(f"{what}: HTTP {response.status_code} without a Location")
    target = response.url.join(location)
    if not same_origin(target, response.url):
        raise ProviderRejected(
            f"{what}: HTTP {response.status_code} to {target.scheme}://{target.host},"
            " another host: dtq follows redirects only within the API's own host (if the"
            " API moved, point its URL setting at the new address)"
        )
    return target


def detail(response: httpx.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return f": {text[:DETAIL_CHARS]}" if text else ""


def check(response: httpx.Response, what: str) -> None:
    """Raise the provider error a non-2xx answer means."""
    status = response.status_code
    if 200 <= status < 300:
        return
    retry_after = parse_retry_after(response.headers.get("Retry-After"), utcnow())
    if status == 429:
        raise ProviderRateLimited(f"{what}: rate limited (HTTP 429){detail(response)}", retry_after)
    if status >= 500:
        raise ProviderServerError(f"{what}: HTTP {status}{detail(response)}", retry_after)
    if status == 404:
        raise ProviderNotFound(f"{what}: not found (HTTP 404)")
    if status < 400:
        raise ProviderRejected(f"{what}: HTTP {status}, which dtq does not follow")
    raise ProviderRejected(f"{what}: HTTP {status}{detail(response)}")


def json_of(response: httpx.Response, what: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise ProviderBadResponse(f"{what}: the answer is not JSON{detail(response)}") from None


M = TypeVar("M", bound=BaseModel)


def answer_as(model: type[M], data: Any, what: str) -> M:
    """``data`` as the provider's documented answer ``model``, or ProviderBadResponse."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ProviderBadResponse(f"{what}: unexpected answer ({where}: {first['msg']})") from None


def seconds_until(epoch_seconds: str | None) -> float | None:
    """Seconds from now until a Unix time given as text (e.g. X-RateLimit-Reset)."""
    if not epoch_seconds or not epoch_seconds.isdigit():
        return None
    return max(0.0, int(epoch_seconds) - time.time())
