"""A StatusStore that hands every call to the store it wraps: the base of the decorators
that do something beside a write (the live-update publisher in shared/push.py, the
webhook outbox in shared/webhooks/outbox.py), which override only the calls they watch."""

from __future__ import annotations

from datetime import datetime

from shared.jobs import Job, JobState
from shared.ports import JobCounts, Page, StatusStore


class DelegatingStatusStore:
    def __init__(self, inner: StatusStore) -> None:
        self.inner = inner

    async def create(self, job: Job) -> Job:
        return await self.inner.create(job)

    async def replace(self, job: Job) -> Job:
        return await self.inner.replace(job)

    async def get(self, tenant_id: str, job_id: str) -> Job:
        return await self.inner.get(tenant_id, job_id)

    async def delete(self, tenant_id: str, job_id: str) -> None:
        await self.inner.delete(tenant_id, job_id)

    async def list(
        self,
        tenant_id: str,
        *,
        state: JobState | None = None,
        job_type: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Job]:
        return await self.inner.list(
            tenant_id, state=state, job_type=job_type, limit=limit, cursor=cursor
        )

    async def purge_finished(self, finished_before: datetime, limit: int) -> int:
        return await self.inner.purge_finished(finished_before, limit)

    async def rebuild_index(self, recount: bool = False) -> int:
        return await self.inner.rebuild_index(recount)

    async def counts(self, tenant_id: str, completed_since: datetime) -> JobCounts:
        return await self.inner.counts(tenant_id, completed_since)

    async def get_marker(self, name: str) -> str | None:
        return await self.inner.get_marker(name)

    async def put_marker(self, name: str, value: str) -> None:
        await self.inner.put_marker(name, value)

    async def ping(self) -> None:
        await self.inner.ping()

    async def close(self) -> None:
        await self.inner.close()
