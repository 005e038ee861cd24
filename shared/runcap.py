"""The per-tenant running cap: at most ``max_running`` of a tenant's jobs run at once.

A tenant's cap comes from its limits (:class:`~shared.limits.TenantLimits`); the shared
:class:`~shared.ports.RunSlots` enforce it across workers. Before the worker
(shared/worker.py) starts an attempt it takes a slot for the job, held a little longer
than the longest attempt may run (so a slot whose worker died frees itself). With none
free, the attempt is not started: a copy of its message is sent due a moment later,
under a fresh message id, and the delivery completes, so a waiting job holds no worker.
A settled attempt releases its slot (shared/settling.py). A deployment without limits
or slots has no cap.
"""

from __future__ import annotations

import logging
import random
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from shared.errors import BackendUnavailable
from shared.jobs import Job
from shared.limits import TenantLimits
from shared.messages import JobMessage
from shared.ports import RunSlots
from shared.priorities import PriorityQueues

log = logging.getLogger(__name__)

#: A job over its tenant's running cap is tried again after a uniform draw from this
#: range of seconds (jittered, so waiting jobs do not come back in one wave).
SLOT_WAIT_SECONDS = (0.5, 2.0)


class RunningCap:
    """The running slots of each tenant's jobs (see the module docstring)."""

    def __init__(
        self,
        *,
        limits: TenantLimits | None,
        slots: RunSlots | None,
        queues: PriorityQueues,
        clock: Callable[[], datetime],
        rng: random.Random | None,
    ) -> None:
        self.limits = limits
        self.slots = slots
        self.queues = queues
        self.clock = clock
        #: Source of the wait's jitter (None: the random module's).
        self.rng = rng

    def of(self, tenant_id: str) -> int:
        """How many of the tenant's jobs may run at once (0: no cap)."""
        if self.limits is None or self.slots is None:
            return 0
        return self.limits.for_tenant(tenant_id).max_running

    async def take(self, job: Job, msg: JobMessage, now: datetime, hold_seconds: float) -> bool:
        """A running slot for ``job``, held ``hold_seconds`` from ``now``; False when the
        tenant runs its cap already, having sent the attempt again a little later."""
        cap = self.of(msg.tenant_id)
        if not cap:
            return True
        assert self.slots is not None
        until = now + timedelta(seconds=hold_seconds)
        if await self.slots.acquire(msg.tenant_id, msg.job_id, cap, until, now):
            return True
        await self._wait_for_slot(job, msg, cap)
        return False

    async def _wait_for_slot(self, job: Job, msg: JobMessage, cap: int) -> None:
        """The tenant runs ``cap`` jobs already: send this attempt again a little later
        (a scheduled copy under a fresh message id) instead of holding a worker slot."""
        delay = (self.rng or random).uniform(*SLOT_WAIT_SECONDS)
        due = self.clock() + timedelta(seconds=delay)
        copy_id = f"{msg.message_id}.w{secrets.token_hex(4)}"
        await self.queues[job.priority].send([msg.outgoing(scheduled_at=due, message_id=copy_id)])
        log.info(
            "job %s waits for a running slot (tenant %s runs %d already); again in %.1fs",
            job.job_id,
            job.tenant_id,
            cap,
            delay,
        )

    async def release(self, job: Job) -> None:
        """Free ``job``'s slot, if its tenant has a cap (best effort: a slot not released
        frees itself when its hold ends)."""
        if self.of(job.tenant_id):
            assert self.slots is not None
            try:
                await self.slots.release(job.tenant_id, job.job_id)
            except BackendUnavailable as exc:
                log.warning(
                    "job %s: slot not released (%s); its lease will expire", job.job_id, exc
                )
