"""The per-tenant running cap: at most ``max_running`` of a tenant's jobs run at once.

A tenant's cap comes from its limits (:class:`~shared.limits.TenantLimits`); the shared
:class:`~shared.ports.RunSlots` enforce it across workers. Before the worker
(shared/worker.py) starts an attempt it takes a slot for the job, held a little longer
than the longest attempt may run (so a slot whose worker died frees itself). With none
free, the worker does not start the attempt: it sends a copy of its message due a
moment later (:data:`SLOT_WAIT_SECONDS`), under a fresh message id, and the delivery
completes, so a waiting job holds no worker. A settled attempt releases its slot
(shared/settling.py). A worker given no :class:`RunningCap` has no cap.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from shared.errors import BackendUnavailable
from shared.jobs import Job
from shared.limits import TenantLimits
from shared.messages import JobMessage
from shared.ports import RunSlots

log = logging.getLogger(__name__)

#: A job over its tenant's running cap is tried again after a uniform draw from this
#: range of seconds (jittered, so waiting jobs do not come back in one wave).
SLOT_WAIT_SECONDS = (0.5, 2.0)


class RunningCap:
    """The running slots of each tenant's jobs (see the module docstring): each
    tenant's cap from ``limits``, enforced by ``slots``."""

    def __init__(self, limits: TenantLimits, slots: RunSlots) -> None:
        self.limits = limits
        self.slots = slots

    def of(self, tenant_id: str) -> int:
        """How many of the tenant's jobs may run at once (0: no cap)."""
        return self.limits.for_tenant(tenant_id).max_running

    async def take(self, msg: JobMessage, now: datetime, hold_seconds: float) -> bool:
        """A running slot for the job of ``msg``, held ``hold_seconds`` from ``now``;
        False when its tenant runs its cap already (the caller sends the attempt again
        a little later)."""
        cap = self.of(msg.tenant_id)
        if not cap:
            return True
        until = now + timedelta(seconds=hold_seconds)
        return await self.slots.acquire(msg.tenant_id, msg.job_id, cap, until, now)

    async def release(self, job: Job) -> None:
        """Free ``job``'s slot, if its tenant has a cap (best effort: a slot not released
        frees itself when its hold ends)."""
        if self.of(job.tenant_id):
            try:
                await self.slots.release(job.tenant_id, job.job_id)
            except BackendUnavailable as exc:
                log.warning(
                    "job %s: slot not released (%s); its lease will expire", job.job_id, exc
                )
