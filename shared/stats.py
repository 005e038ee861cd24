"""Stats: a tenant's jobs by state and type, its completions per minute and its
dead-letter queue, and the pauses in force (shared/pauses.py); for the operator also the
shared queues and worker processes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from shared.jobs import JobState, iso_utc, utcnow
from shared.pauses import Pauses
from shared.ports import JobQueue, StatusStore, WorkerRegistry
from shared.priorities import PriorityQueues

#: A worker process not heard from for this long is left out of the stats.
WORKER_STALE_SECONDS = 15


class Stats:
    def __init__(
        self,
        *,
        status: StatusStore,
        queue: JobQueue | PriorityQueues,
        clock: Callable[[], datetime] = utcnow,
        pauses: Pauses | None = None,
    ) -> None:
        self.status = status
        self.pauses = pauses
        self.queues = PriorityQueues.of(queue)
        self.clock = clock

    async def _pauses(self, tenant_id: str) -> list[dict[str, Any]]:
        if self.pauses is None:
            return []
        return [p.to_public() for p in await self.pauses.listed(tenant_id)]

    async def collect(
        self, tenant_id: str, workers: WorkerRegistry | None = None, *, operator: bool = False
    ) -> dict[str, Any]:
        """The tenant's jobs by state and type, completions per minute over the last
        hour, its dead-letter queue, and the pauses that hold its jobs (those for every
        tenant, then its own). The queues and the workers are shared by every
        tenant, so only the ``operator`` also gets each queue's messages (and those the
        queues dead-lettered) and (local host) the worker processes; a tenant's
        ``queues`` is empty (docs/tenants.md)."""
        now = self.clock()
        minute = now.replace(second=0, microsecond=0)
        since = minute - timedelta(minutes=59)
        counts = await self.status.counts(tenant_id, completed_since=since)
        by_state: dict[str, int] = {s.value: 0 for s in JobState}
        by_type: dict[str, dict[str, int]] = {}
        for (state, job_type), n in counts.by_state_and_type.items():
            by_state[state] = by_state.get(state, 0) + n
            by_type.setdefault(job_type, {})[state] = n
        done = dict(counts.completed_per_minute)
        per_minute = [
            {
                "minute": iso_utc(since + timedelta(minutes=i)),
                "completed": done.get(since + timedelta(minutes=i), 0),
            }
            for i in range(60)
        ]
        out: dict[str, Any] = {
            "at": iso_utc(now),
            "scope": "operator" if operator else "tenant",
            "jobs": {"total": sum(by_state.values()), "by_state": by_state, "by_type": by_type},
            "completed_last_hour": sum(p["completed"] for p in per_minute),
            "completed_per_minute": per_minute,
            "dead_letter": {"jobs": by_state.get(JobState.FAILED.value, 0)},
            "queues": {},
            "truncated": counts.truncated,
            "pauses": await self._pauses(tenant_id),
        }
        if not operator:
            return out
        for priority, queue in self.queues.distinct():
            depth = await queue.depth()
            out["queues"][priority.value] = {
                "queue": queue.queue_name,
                "active": depth.active,
                "scheduled": depth.scheduled,
                "dead_lettered": depth.dead_lettered,
            }
        out["dead_letter"]["messages"] = sum(q["dead_lettered"] for q in out["queues"].values())
        if workers is not None:
            out["workers"] = await self._workers(workers, now)
        return out

    @staticmethod
    async def _workers(workers: WorkerRegistry, now: datetime) -> list[dict[str, Any]]:
        live = await workers.live(seen_since=now - timedelta(seconds=WORKER_STALE_SECONDS))
        return [
            {
                "worker_id": w.worker_id,
                "pid": w.pid,
                "hostname": w.hostname,
                "started_at": iso_utc(w.started_at),
                "last_seen": iso_utc(w.last_seen),
                "in_flight": w.in_flight,
                "invocations": w.invocations,
                "queues": w.queues,
            }
            for w in live
        ]
