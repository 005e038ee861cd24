"""What the API answers: the domain's and the ports' errors, each carrying enough for
the HTTP layer to map it to a status code without knowing where it came from.

What a handler raises is in :mod:`shared.jobtypes.errors`; what steers a run inside
dtq is in :mod:`shared.control`.
"""

from __future__ import annotations

from dataclasses import dataclass


class DtqError(Exception):
    """Base class of dtq's own errors."""


@dataclass
class FieldError:
    field: str
    message: str


class ValidationFailed(DtqError):
    """Input broke a rule; ``errors`` names each offending field."""

    def __init__(self, detail: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class NotFound(DtqError):
    """The thing asked for does not exist (or belongs to another tenant)."""


class Unauthorized(DtqError):
    """The request carries no valid credentials (401)."""


class RateLimited(DtqError):
    """The tenant submitted more than its limit allows (429)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Conflict(DtqError):
    """The request is valid but the resource's current state forbids it."""


class IllegalTransition(Conflict):
    """A state change the job state machine does not allow."""

    def __init__(self, current: str, target: str) -> None:
        super().__init__(f"a job cannot go from {current!r} to {target!r}")
        self.current = current
        self.target = target


class PreconditionFailed(DtqError):
    """A conditional (ETag/version) write lost a race with another writer."""


class BackendUnavailable(DtqError):
    """A storage or queue backend cannot be reached; callers should retry later."""

    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class InsufficientStorage(BackendUnavailable):
    """The store's storage refuses writes: its disk is full (SQLITE_FULL, ENOSPC) or it
    is read-only (SQLITE_READONLY, EROFS). Nothing of the write was kept. It lasts until
    an operator frees space or remounts the disk, so the API answers 507 with a longer
    Retry-After than a passing outage; a worker gives the message back (as for any
    BackendUnavailable) and the lease rules run the attempt once space is back."""

    def __init__(self, message: str, retry_after: int = 30) -> None:
        super().__init__(message, retry_after=retry_after)


class StorageFull(InsufficientStorage):
    """The disk (or the database's size limit) is full."""


class StorageReadOnly(InsufficientStorage):
    """The storage is read-only (a read-only mount, or a file the process may not write)."""


class TooLarge(DtqError):
    """A record is larger than its store keeps: a job over a status row's size, a result
    over the result size limit, or a Table entity or property (400 ``EntityTooLarge``,
    ``PropertyValueTooLarge``, ``RequestBodyTooLarge``) or Cosmos DB item (413) the
    service refused. Permanent: the same write fails again, so it is never retried
    (the API answers 413)."""

    def __init__(self, message: str, limit: int | None = None) -> None:
        super().__init__(message)
        #: The limit broken, in bytes, where known.
        self.limit = limit
