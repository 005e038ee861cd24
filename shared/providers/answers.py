"""How a provider's answer is read: the rate limit it signals, where a redirect leads,
the error a non-2xx means, and its JSON as the documented model (the table in
:mod:`shared.providers.client`)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from shared.jobs import utcnow
from shared.jobtypes.errors import (
    ProviderBadResponse,
    ProviderNotFound,
    ProviderRateLimited,
    ProviderRejected,
    ProviderServerError,
)
from shared.retries import parse_retry_after

#: Longest excerpt of a provider's error body kept in an error message.
DETAIL_CHARS = 200
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


def same_origin(target: httpx.URL, origin: httpx.URL) -> bool:
    """Whether a redirect to ``target`` stays at ``origin``'s host and port (http may
    become https on the same host, never the reverse)."""
    if target.host != origin.host:
        return False
    if target.scheme == origin.scheme:
        return target.port == origin.port
    return origin.scheme == "http" and target.scheme == "https" and target.port in (None, 443)


def redirect_target(response: httpx.Response, what: str) -> httpx.URL | None:
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
