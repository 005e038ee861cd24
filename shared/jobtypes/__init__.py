"""The surface for job-type authors, in one module: what a handler gets (its payload
model and :class:`JobContext`), what it raises, and the registry its module's
``register(registry)`` adds it to (docs/job-types.md)::

    from shared.jobtypes import JobContext, JobTypeRegistry, PermanentJobError

The offline built-in types (echo, simulate) are in :func:`default_registry`; the
providers (shared/providers) and the user's modules are loaded alike
(:mod:`.discovery`).
"""

from shared.jobtypes.context import JobContext
from shared.jobtypes.errors import (
    JobCancelled,
    JobDeferred,
    JobFailure,
    JobTimedOut,
    PermanentJobError,
    ProviderBadResponse,
    ProviderNotFound,
    ProviderRateLimited,
    ProviderRejected,
    ProviderServerError,
    ProviderTimeout,
    ProviderUnavailable,
    TransientJobError,
)
from shared.jobtypes.registry import JobType, JobTypeRegistry, default_registry

__all__ = [
    "JobCancelled",
    "JobContext",
    "JobDeferred",
    "JobFailure",
    "JobTimedOut",
    "JobType",
    "JobTypeRegistry",
    "PermanentJobError",
    "ProviderBadResponse",
    "ProviderNotFound",
    "ProviderRateLimited",
    "ProviderRejected",
    "ProviderServerError",
    "ProviderTimeout",
    "ProviderUnavailable",
    "TransientJobError",
    "default_registry",
]
