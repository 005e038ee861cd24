"""Azure SDK errors translated into dtq's own, in one place."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)

from shared.errors import BackendUnavailable, Conflict, NotFound, PreconditionFailed, TooLarge

#: Table storage's error codes for an entity, property or request body over its limits
#: (answered with 400; a request body can also be refused with 413).
TOO_LARGE_CODES = frozenset({"EntityTooLarge", "PropertyValueTooLarge", "RequestBodyTooLarge"})


def _error_code(exc: HttpResponseError) -> str | None:
    code = getattr(exc, "error_code", None)
    if code:
        return str(code)
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    return headers.get("x-ms-error-code") if headers is not None else None


def is_too_large(exc: HttpResponseError) -> bool:
    """Whether the service refused a write as too large: Table storage's 400 with one of
    TOO_LARGE_CODES, or 413 (Cosmos DB's ``RequestEntityTooLarge``, an oversized body)."""
    if exc.status_code == 413:
        return True
    return exc.status_code == 400 and _error_code(exc) in TOO_LARGE_CODES


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Run SDK calls; raise NotFound / Conflict / PreconditionFailed / TooLarge /
    BackendUnavailable."""
    try:
        yield
    except ResourceNotFoundError as exc:
        raise NotFound(f"{what} not found") from exc
    except ResourceExistsError as exc:
        raise Conflict(f"{what} already exists") from exc
    except ResourceModifiedError as exc:
        raise PreconditionFailed(f"{what} changed meanwhile") from exc
    except HttpResponseError as exc:
        if exc.status_code == 412:
            raise PreconditionFailed(f"{what} changed meanwhile") from exc
        if exc.status_code == 404:
            raise NotFound(f"{what} not found") from exc
        if exc.status_code == 409:
            raise Conflict(f"{what} already exists") from exc
        if is_too_large(exc):
            code = _error_code(exc) or f"HTTP {exc.status_code}"
            raise TooLarge(f"{what} is larger than the service stores ({code})") from exc
        raise BackendUnavailable(f"{what}: HTTP {exc.status_code}: {exc.reason}") from exc
    except (ServiceRequestError, ServiceResponseError) as exc:
        raise BackendUnavailable(f"{what}: {type(exc).__name__}: {exc}") from exc
    except AzureError as exc:
        raise BackendUnavailable(f"{what}: {exc}") from exc
