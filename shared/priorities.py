"""Priorities, and the queue each one uses.

Service Bus has no message priorities, so dtq keeps one queue per priority, each with
its own trigger (``functions/run_job.py``). Every trigger gets its own
``maxConcurrentCalls`` slots on every instance, so high-priority jobs never wait behind
a backlog of normal or low ones, and low ones keep their own slots, so they are never
starved either (see docs/priorities.md). The embedded backend does the same with
three SQLite queues, so the local host behaves as Azure does.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from shared.jobs import Priority
from shared.ports import JobQueue

__all__ = ["Priority", "PriorityQueues"]


class PriorityQueues:
    """The queue of each priority."""

    def __init__(self, queues: Mapping[Priority, JobQueue]) -> None:
        missing = set(Priority) - set(queues)
        if missing:
            raise ValueError(f"no queue for priorities {sorted(missing)}")
        self._queues = dict(queues)

    @classmethod
    def single(cls, queue: JobQueue) -> PriorityQueues:
        """Every priority on one queue (tests, tools)."""
        return cls({p: queue for p in Priority})

    @classmethod
    def of(cls, queue: JobQueue | PriorityQueues) -> PriorityQueues:
        """``queue`` as the queues of every priority, unless it already is that."""
        return queue if isinstance(queue, PriorityQueues) else cls.single(queue)

    def __getitem__(self, priority: Priority) -> JobQueue:
        return self._queues[priority]

    def distinct(self) -> Iterator[tuple[Priority, JobQueue]]:
        """Each queue once, with the first priority that uses it."""
        seen: set[int] = set()
        for priority in Priority:
            queue = self._queues[priority]
            if id(queue) not in seen:
                seen.add(id(queue))
                yield priority, queue
