"""Every error dtq raises on purpose, in one module.

Domain and port errors carry enough for the HTTP layer to map them to a status
code without knowing where they came from.
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


# --- queue errors (named after their Service Bus equivalents) ------------------


class MessageLockLost(DtqError):
    """The message's lock expired or was settled by someone else."""


# --- errors raised by job handlers ---------------------------------------------


class JobFailure(DtqError):
    """Raised by a handler to fail an attempt with a message meant for users."""

    #: The dead-letter reason when this failure ends the job.
    reason = "PermanentFailure"

    def __init__(
        self, message: str, *, retryable: bool = True, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        #: Seconds the provider asked us to wait (e.g. Retry-After); None = our backoff.
        self.retry_after = retry_after


class TransientJobError(JobFailure):
    """A failure worth retrying (timeouts, 5xx, 429, connection errors)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message, retryable=True, retry_after=retry_after)


class PermanentJobError(JobFailure):
    """A failure that retrying cannot fix (bad input, 4xx, not found)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


class JobDeferred(DtqError):
    """Raised (by a handler, or by the provider quotas before any request) to give this
    attempt back unspent: the job waits ``seconds`` in state ``scheduled`` and then runs
    the same attempt again. For waits that are nobody's failure, such as a provider's
    quota being used up for now; an error that is the job's own is a
    :class:`TransientJobError`, which spends the attempt."""

    def __init__(self, message: str, seconds: float) -> None:
        super().__init__(message)
        self.message = message
        self.seconds = max(0.0, seconds)


# --- errors of the providers (the external APIs job types call) ------------------


class ProviderTimeout(TransientJobError):
    """The provider did not answer in time."""


class ProviderUnavailable(TransientJobError):
    """The provider could not be reached (connection refused or reset, DNS, TLS)."""


class ProviderRateLimited(TransientJobError):
    """The provider asked us to slow down (429, or GitHub's exhausted rate limit)."""


class ProviderServerError(TransientJobError):
    """The provider failed (5xx)."""


class ProviderBadResponse(TransientJobError):
    """The provider answered 2xx with a body that is not what its API promises."""


class ResultTooLarge(PermanentJobError):
    """The handler returned a result larger than the result store keeps."""

    reason = "ResultTooLarge"


class ProviderNotFound(PermanentJobError):
    """The provider has no such thing (a 404, or an empty search)."""

    reason = "NotFound"


class ProviderRejected(PermanentJobError):
    """The provider refused the request (a 4xx other than 404 and 429)."""

    reason = "Rejected"


class PoisonJob(PermanentJobError):
    """The stored job cannot run at all: its type is unknown here, or its payload no
    longer validates (the type changed since it was submitted)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class JobCancelled(DtqError):
    """Raised inside a handler when its job was cancelled while it ran."""


class JobTimedOut(DtqError):
    """Raised when a handler runs past its deadline."""
