"""Job types: a registry of payload models and async handlers.

The built-in types live in sibling modules and are registered by
:func:`default_registry`. Users add their own with :meth:`JobTypeRegistry.register`
or the :meth:`JobTypeRegistry.job_type` decorator.
"""

from shared.jobtypes.context import JobContext
from shared.jobtypes.registry import JobType, JobTypeRegistry, default_registry

__all__ = ["JobContext", "JobType", "JobTypeRegistry", "default_registry"]
