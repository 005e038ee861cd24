"""Queries: what a tenant reads about its jobs (one job, its result, a filtered page)
and the job types it may submit."""

from __future__ import annotations

import asyncio
import builtins
import time
from collections.abc import Callable
from typing import Any

from shared.constants import MAX_PAGE_SIZE
from shared.errors import FieldError, NotFound, ValidationFailed
from shared.jobs import Job, JobState
from shared.jobtypes import JobTypeRegistry
from shared.ports import Page, ResultStore, StatusStore, StoredResult


class Queries:
    def __init__(
        self,
        *,
        status: StatusStore,
        results: ResultStore,
        registry: JobTypeRegistry,
        change_poll_seconds: float = 0.5,
    ) -> None:
        self.status = status
        self.results = results
        self.registry = registry
        #: How often :meth:`changed` reads the job while it waits (the backend's own
        #: default: cheap local reads often, billed Table reads less often).
        self.change_poll_seconds = change_poll_seconds

    async def get(self, tenant_id: str, job_id: str) -> Job:
        return await self.status.get(tenant_id, job_id)

    async def changed(
        self,
        tenant_id: str,
        job_id: str,
        unchanged: Callable[[Job], bool],
        wait_seconds: float,
    ) -> Job:
        """The job as soon as ``unchanged(job)`` no longer holds (a long-poll), or as it is
        after ``wait_seconds``; it is read every ``change_poll_seconds`` meanwhile."""
        deadline = time.monotonic() + wait_seconds
        job = await self.get(tenant_id, job_id)
        while unchanged(job) and (left := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(self.change_poll_seconds, left))
            job = await self.get(tenant_id, job_id)
        return job

    async def result(self, tenant_id: str, job_id: str) -> StoredResult:
        job = await self.get(tenant_id, job_id)
        stored = await self.results.get(job_id) if job.state is JobState.COMPLETED else None
        if stored is None:
            raise NotFound(f"job {job_id} has no result (it is {job.state.value})")
        return stored

    async def list(
        self,
        tenant_id: str,
        *,
        state: str | None = None,
        job_type: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Job]:
        errors: builtins.list[FieldError] = []
        parsed_state: JobState | None = None
        if state:
            try:
                parsed_state = JobState(state)
            except ValueError:
                errors.append(
                    FieldError("state", f"must be one of: {', '.join(s.value for s in JobState)}")
                )
        if job_type and job_type not in self.registry:
            errors.append(
                FieldError("job_type", f"must be one of: {', '.join(self.registry.names())}")
            )
        if not 1 <= limit <= MAX_PAGE_SIZE:
            errors.append(FieldError("limit", f"must be 1 to {MAX_PAGE_SIZE}"))
        if errors:
            raise ValidationFailed("invalid list filters", errors)
        return await self.status.list(
            tenant_id, state=parsed_state, job_type=job_type or None, limit=limit, cursor=cursor
        )

    def job_types(self) -> builtins.list[dict[str, Any]]:
        return [jt.describe() for jt in self.registry]
