"""What a job type's handler raises, and what it may see raised at its awaits: the
errors part of the surface for job-type authors (:mod:`shared.jobtypes`).

- :class:`TransientJobError`: this attempt failed, another may succeed (retried with
  backoff, or after ``retry_after``); :class:`PermanentJobError`: retrying cannot help
  (the job goes to the dead-letter queue at once); :class:`JobDeferred`: not a failure,
  run this attempt later without spending it.
- The ``Provider...`` errors: how the built-in providers sort an external API's answers
  (docs/retries.md); a handler of your own may raise them too.
- :class:`JobCancelled` and :class:`JobTimedOut` are raised *into* a handler (at
  ``ctx.report`` or its awaits) when its job is cancelled or out of time: let them pass.
"""

from __future__ import annotations

from shared.errors import DtqError


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


class ProviderNotFound(PermanentJobError):
    """The provider has no such thing (a 404, or an empty search)."""

    reason = "NotFound"


class ProviderRejected(PermanentJobError):
    """The provider refused the request (a 4xx other than 404 and 429)."""

    reason = "Rejected"


class JobCancelled(DtqError):
    """Raised inside a handler when its job was cancelled while it ran."""


class JobTimedOut(DtqError):
    """Raised when a handler runs past its deadline."""
