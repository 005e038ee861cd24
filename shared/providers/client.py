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
from typing import Any

import httpx
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from shared import __version__
from shared.jobtypes.errors import (
    ProviderRateLimited,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
)
from shared.metrics import Metrics
from shared.providers.answers import (
    RateLimit,
    check,
    json_of,
    redirect_target,
    standard_rate_limit,
)
from shared.quotas import ProviderQuotas
from shared.telemetry import tracer

# httpx logs each request's URL at INFO, query included: an API key sent as a query
# parameter (Open-Meteo's apikey) would reach the logs, and Application Insights.
logging.getLogger("httpx").setLevel(logging.WARNING)

USER_AGENT = f"dtq/{__version__} (job queue; python-httpx/{httpx.__version__})"
#: Connections kept per client (one client per worker process and event loop).
POOL = httpx.Limits(max_connections=100, max_keepalive_connections=20)
#: Redirects followed within the API's own origin before giving up.
MAX_REDIRECTS = 3


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
            target = redirect_target(response, what)
            if target is None:
                break
            response = await self._send(str(target), provider, what, None, headers)
        else:
            if redirect_target(response, what) is not None:
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
