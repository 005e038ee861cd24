"""The one HTTP client every provider uses, and the error taxonomy of its answers.

One pooled ``httpx.AsyncClient`` per event loop (connections are reused across jobs;
an AsyncClient must not be shared between loops), created on first use, with a
timeout, a User-Agent, and no automatic redirects. What comes back is sorted once:

==============================================  ======================================
answer                                          error (retryable?)
==============================================  ======================================
timeout                                         ProviderTimeout (yes)
connection refused/reset, DNS, TLS              ProviderUnavailable (yes)
429                                             ProviderRateLimited (yes, Retry-After)
5xx                                             ProviderServerError (yes, Retry-After)
404                                             ProviderNotFound (no)
other 4xx                                       ProviderRejected (no)
2xx that is not the JSON promised               ProviderBadResponse (yes)
==============================================  ======================================
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, TypeVar

import httpx
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from pydantic import BaseModel, ValidationError

from shared import __version__
from shared.errors import (
    ProviderBadResponse,
    ProviderNotFound,
    ProviderRateLimited,
    ProviderRejected,
    ProviderServerError,
    ProviderTimeout,
    ProviderUnavailable,
)
from shared.jobs import utcnow
from shared.metrics import Metrics
from shared.retries import parse_retry_after
from shared.telemetry import tracer

USER_AGENT = f"dtq/{__version__} (job queue; python-httpx/{httpx.__version__})"
#: Longest excerpt of a provider's error body kept in an error message.
DETAIL_CHARS = 200
#: Connections kept per client (one client per worker process and event loop).
POOL = httpx.Limits(max_connections=100, max_keepalive_connections=20)


class ProviderClient:
    def __init__(
        self,
        timeout_seconds: float,
        transport: httpx.AsyncBaseTransport | None = None,
        metrics: Metrics | None = None,
    ):
        self.timeout = timeout_seconds
        self._transport = transport
        self.metrics = metrics or Metrics()
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
        what: str,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """GET ``url``; transport failures become retryable provider errors. Each call
        is a client span and a timing by provider (the URL's host) and outcome."""
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
                self.metrics.provider_call(target.host, outcome, time.monotonic() - began)

    async def get_json(
        self,
        url: str,
        *,
        what: str,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """GET ``url`` and return its JSON body, or raise the error its answer means."""
        response = await self.get(url, what=what, params=params, headers=headers)
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
    """A provider call's outcome, as a metric label: ok, http_429, http_4xx, http_5xx."""
    if status < 400:
        return "ok"
    return "http_429" if status == 429 else f"http_{status // 100}xx"


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
