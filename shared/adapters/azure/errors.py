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

from shared.errors import BackendUnavailable, Conflict, NotFound, PreconditionFailed


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Run SDK calls; raise NotFound / Conflict / PreconditionFailed / BackendUnavailable."""
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
        raise BackendUnavailable(f"{what}: HTTP {exc.status_code}: {exc.reason}") from exc
    except (ServiceRequestError, ServiceResponseError) as exc:
        raise BackendUnavailable(f"{what}: {type(exc).__name__}: {exc}") from exc
    except AzureError as exc:
        raise BackendUnavailable(f"{what}: {exc}") from exc
