"""One POST of a webhook, to the address :func:`shared.webhooks.targets.resolve` checked.

The request goes to that exact address (``https://203.0.113.7:443/path``) with the URL's
host in the ``Host`` header and, for https, as the TLS server name (httpcore's
``sni_hostname`` request extension): the certificate is verified for the host name,
while no second look-up can send the request elsewhere. Redirects are not followed (a
3xx is a failed attempt), proxies from the environment are not used (they would resolve
the name themselves), one timeout bounds the whole attempt (the look-up included), and
the answer's body is never read.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from shared.webhooks.targets import TargetRefused, resolve

USER_AGENT = "dtq-webhooks/1"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to."""

    duration_ms: int
    status_code: int | None = None
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _general(exc: httpx.HTTPError) -> str:
    """What a failed POST came to, in terms that name no address."""
    causes: list[BaseException] = []
    cause = exc.__cause__ or exc.__context__
    while cause is not None and len(causes) < 5:
        causes.append(cause)
        cause = cause.__cause__ or cause.__context__
    if any(isinstance(c, ssl.SSLError) for c in causes) or "SSL" in str(exc):
        return "TLS error"
    if isinstance(exc, httpx.ConnectError):
        return "connection failed"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.LocalProtocolError):
        return "the answer was not valid HTTP"
    return "connection failed"


class WebhookClient:
    """Sends webhook POSTs; one per process (it keeps a connection pool)."""

    def __init__(self, *, timeout_seconds: float, allow_private: bool) -> None:
        self.allow_private = allow_private
        #: The whole attempt's limit: name look-up, connection, TLS, request and answer
        #: headers together (httpx's own timeouts bound each read only, so a receiver
        #: trickling a header line at a time would hold an attempt for ever).
        self.timeout_seconds = timeout_seconds
        self.timeout = httpx.Timeout(timeout_seconds, connect=min(5.0, timeout_seconds))
        self._http: httpx.AsyncClient | None = None

    @property
    def http(self) -> httpx.AsyncClient:
        """The connection pool, made on first use (in the loop that uses it)."""
        if self._http is None:
            self._http = httpx.AsyncClient(
                timeout=self.timeout,
                follow_redirects=False,
                trust_env=False,  # a proxy from the environment would resolve the name itself
                # No connection is reused: the pool knows a connection by its address, and
                # two targets behind one address would share a TLS session whose
                # certificate was checked for the first target's name only.
                limits=httpx.Limits(max_keepalive_connections=0),
                headers={"User-Agent": USER_AGENT},
            )
        return self._http

    async def post(self, url: str, headers: dict[str, str], body: bytes) -> Outcome:
        """POST ``body`` to ``url``; never raises: every failure is an Outcome."""
        began = time.monotonic()

        def took() -> int:
            return round((time.monotonic() - began) * 1000)

        try:
            async with asyncio.timeout(self.timeout_seconds):
                return await self._attempt(url, headers, body, took)
        except TimeoutError:
            return Outcome(took(), error="timed out")
        except Exception:  # whatever it is, the attempt failed: it never escapes
            log.warning("webhook POST to %s failed unexpectedly", url, exc_info=True)
            return Outcome(took(), error="failed")

    async def _attempt(
        self, url: str, headers: dict[str, str], body: bytes, took: Callable[[], int]
    ) -> Outcome:
        try:
            target = await resolve(url, allow_private=self.allow_private)
        except TargetRefused as exc:
            log.info("webhook to %s refused: %s", url, exc)
            return Outcome(took(), error=f"refused: {exc.public}")
        ip = target.address
        literal = f"[{ip}]" if ip.version == 6 else str(ip)
        default = {"http": 80, "https": 443}[target.scheme]
        host = f"[{target.host}]" if ":" in target.host else target.host
        host_header = host if target.port == default else f"{host}:{target.port}"
        address_url = f"{target.scheme}://{literal}:{target.port}{target.target}"
        request = self.http.build_request(
            "POST",
            address_url,
            content=body,
            headers={**headers, "Content-Type": "application/json", "Host": host_header},
            extensions={"sni_hostname": target.host} if target.scheme == "https" else {},
        )
        try:
            response = await self.http.send(request, stream=True)
            await response.aclose()  # the body is not read
        except httpx.TimeoutException:
            return Outcome(took(), error="timed out")
        except httpx.HTTPError as exc:
            # The job's record, which its tenant reads, says what went wrong in general
            # terms; the detail (addresses, the OS's words) goes to the service's log.
            log.info("webhook POST to %s (%s) failed: %r", url, ip, exc)
            return Outcome(took(), error=_general(exc))
        if 300 <= response.status_code < 400:
            return Outcome(took(), response.status_code, "redirects are not followed")
        return Outcome(took(), response.status_code)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
