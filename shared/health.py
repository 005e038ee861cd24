"""Health: whether each backend answers (``GET /api/v1/healthz``)."""

from __future__ import annotations

from typing import Any

from shared.errors import BackendUnavailable
from shared.ports import JobQueue, ResultStore, StatusStore
from shared.priorities import PriorityQueues


class Health:
    def __init__(
        self, *, status: StatusStore, results: ResultStore, queue: JobQueue | PriorityQueues
    ) -> None:
        self.status = status
        self.results = results
        self.queues = PriorityQueues.of(queue)

    async def check(self) -> dict[str, Any]:
        """Reachability of each backend; ``ok`` is False if any is down."""
        checks: dict[str, Any] = {}
        for name, probe in (
            ("status_store", self.status.ping),
            ("result_store", self.results.ping),
            *((f"job_queue_{p.value}", q.depth) for p, q in self.queues.distinct()),
        ):
            try:
                await probe()
                checks[name] = {"ok": True}
            except BackendUnavailable as exc:
                checks[name] = {"ok": False, "error": str(exc)}
        return {"ok": all(c["ok"] for c in checks.values()), "checks": checks}
