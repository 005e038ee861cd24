"""Conditional read-modify-write of a job: the one way state changes are stored."""

from __future__ import annotations

from collections.abc import Callable

from shared.errors import PreconditionFailed
from shared.jobs import Job
from shared.ports import StatusStore

#: A change: the new job, or None to leave it as it is.
Change = Callable[[Job], Job | None]

MAX_RACES = 20


async def guarded_update(
    store: StatusStore, tenant_id: str, job_id: str, change: Change, *, known: Job | None = None
) -> tuple[Job, bool]:
    """Apply ``change`` to the stored job under its ETag, re-reading after each lost race.

    ``known`` is a copy the caller already holds (saves a read when it is current).
    Returns the stored job and whether ``change`` wrote anything. Errors raised by
    ``change`` (e.g. IllegalTransition) propagate unchanged.
    """
    job = known if known is not None else await store.get(tenant_id, job_id)
    for _ in range(MAX_RACES):
        updated = change(job)
        if updated is None:
            return job, False
        try:
            return await store.replace(updated), True
        except PreconditionFailed:
            job = await store.get(tenant_id, job_id)
    raise PreconditionFailed(f"job {job_id} kept changing; gave up after {MAX_RACES} tries")
